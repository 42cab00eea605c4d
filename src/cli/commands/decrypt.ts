/** `dke decrypt`: OpenDKE file → plaintext, with every holder's key (local files or trusted key services). */
import { collect } from '../output.js';
import type { Command } from 'commander';
import { decryptReusing } from '../../client/decrypt.js';
import { openInput, writeOutput } from '../io.js';
import { withProgress } from '../progress.js';
import { loadIdentities, remoteResolver, tokenSourceFrom } from '../holder-args.js';
import { receiptPolicyFrom } from '../receipt-args.js';

interface DecryptOptions {
  identity: string[];
  keyService: string[];
  output?: string;
  force?: boolean;
  passphraseFile?: string;
  tokenFile?: string;
  oidcIssuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  audience?: string;
  logVkey: string[];
  requireReceipt?: boolean;
  receiptDir?: string;
}

export function registerDecrypt(program: Command): void {
  program
    .command('decrypt')
    .description('decrypt an OpenDKE file; needs the key of every holder named in it')
    .argument('[input]', 'file to decrypt, or - for stdin', '-')
    .option('-i, --identity <file>', 'a holder key file made by dke keygen (repeat)', collect, [])
    .option(
      '-k, --key-service <url>',
      'trust this key service (URL prefix, e.g. https://host/keys) to unwrap remote holders (repeat)',
      collect,
      [],
    )
    .option(
      '-o, --output <file>',
      'output file (default: stdout); written atomically, removed on any failure',
    )
    .option('-f, --force', 'replace an existing output file')
    .option('--passphrase-file <file>', 'passphrase (first line) for protected key files (or DKE_PASSPHRASE)')
    .option('--token-file <file>', 'bearer token for the key service (or DKE_TOKEN)')
    .option('--oidc-issuer <url>', 'get a token from this issuer with the client-credentials grant')
    .option('--client-id <id>', 'client id for --oidc-issuer')
    .option('--client-secret-file <file>', 'client secret for --oidc-issuer (or DKE_CLIENT_SECRET)')
    .option('--audience <aud>', 'audience of the key service token, for --oidc-issuer')
    .option(
      '--log-vkey <vkey>',
      "pin a key service's audit log key (as dke audit key prints it) and verify its receipts (repeat; or DKE_LOG_VKEY)",
      collect,
      [],
    )
    .option(
      '--require-receipt',
      'refuse any key-service share without a valid audit receipt (needs --log-vkey)',
    )
    .option('--receipt-dir <dir>', 'save each verified receipt there as <objectId>.<keyId>.tlog-proof (0600)')
    .addHelpText(
      'after',
      '\nWith a pinned log key, a receipt that does not verify refuses the share (exit 10, ERR_RECEIPT_INVALID);' +
        '\na missing one does too with --require-receipt (exit 10, ERR_RECEIPT_MISSING). Nothing is written then.',
    )
    .action(async (input: string, options: DecryptOptions) => {
      const receipts = await receiptPolicyFrom(options);
      const holders = await loadIdentities(options.identity, options);
      const tokens = await tokenSourceFrom(options);
      const source = await openInput(input);
      const ciphertext = withProgress(source.stream, source.size, 'decrypting');
      const plaintext = decryptReusing(ciphertext, holders, {
        resolveHolder: remoteResolver(options.keyService, tokens, receipts),
      });
      await writeOutput(plaintext, options.output, { force: options.force === true, mode: 0o600 });
    });
}
