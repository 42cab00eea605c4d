/** `dke encrypt`: plaintext → OpenDKE file under two or more holders. */
import { collect } from '../output.js';
import type { Command } from 'commander';
import { DkeError } from '../../errors/index.js';
import { encryptReusing } from '../../client/encrypt.js';
import { openInput, writeOutput } from '../io.js';
import { withProgress } from '../progress.js';
import { resolveHolder } from '../holder-args.js';
import type { Holder } from '../../holders/holder.js';

interface EncryptOptions {
  holder: string[];
  output?: string;
  force?: boolean;
  passphraseFile?: string;
}

export function registerEncrypt(program: Command): void {
  program
    .command('encrypt')
    .description('encrypt a file or stdin so that it opens only with the keys of every holder')
    .argument('[input]', 'file to encrypt, or - for stdin', '-')
    .option(
      '-H, --holder <holder>',
      'a holder: dkepub1:... recipient, key file, JWK/PEM public key, or https://host/keys/NAME (repeat; at least two)',
      collect,
      [],
    )
    .option('-o, --output <file>', 'output file (default: stdout); written atomically')
    .option('-f, --force', 'replace an existing output file')
    .option(
      '--passphrase-file <file>',
      'passphrase (first line) of passphrase-protected key files given as holders; DKE_PASSPHRASE works too',
    )
    .action(async (input: string, options: EncryptOptions) => {
      if (options.holder.length < 2) {
        throw new DkeError('ERR_TOO_FEW_HOLDERS', {
          hint: 'name at least two holders: --holder PROVIDER --holder CUSTOMER',
        });
      }
      const holders: Holder[] = [];
      const passphrase = { passphraseFile: options.passphraseFile };
      for (const spec of options.holder) holders.push(await resolveHolder(spec, passphrase));
      const source = await openInput(input);
      const plaintext = withProgress(source.stream, source.size, 'encrypting');
      await writeOutput(encryptReusing(plaintext, holders), options.output, {
        force: options.force === true,
        mode: 0o644,
      });
    });
}
