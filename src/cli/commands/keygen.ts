/** `dke keygen`: a new local holder key file (0600), printing its recipient string. */
import { Command, Option } from 'commander';
import {
  DEFAULT_KEY_SPEC,
  NATIVE_KEY_SPECS,
  encodeRecipient,
  generateHolderKey,
  keyIdOf,
  type KeySpec,
} from '../../crypto/holder-keys.js';
import { writeKeyFile } from '../../holders/key-file.js';
import { info } from '../output.js';
import { readPassphrase } from '../passphrase.js';

interface KeygenOptions {
  output: string;
  type: KeySpec;
  passphraseFile?: string;
  quiet?: boolean;
}

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('create a holder key file and print its public recipient string')
    .requiredOption(
      '-o, --output <file>',
      'where to write the private key file (created 0600, never overwritten)',
    )
    .addOption(
      new Option('-t, --type <type>', 'key type')
        .choices(NATIVE_KEY_SPECS as string[])
        .default(DEFAULT_KEY_SPEC),
    )
    .option(
      '--passphrase-file <file>',
      'protect the key file with the passphrase on the first line of this file (scrypt + AES-256-GCM); DKE_PASSPHRASE works too',
    )
    .option('-q, --quiet', 'print only the recipient string')
    .action(async (options: KeygenOptions) => {
      const passphrase = await readPassphrase({ passphraseFile: options.passphraseFile });
      const key = generateHolderKey(options.type);
      await writeKeyFile(options.output, key, passphrase);
      if (options.quiet !== true)
        info(
          `dke: wrote ${options.type} key ${await keyIdOf(key)} to ${options.output}${passphrase === undefined ? '' : ' (passphrase-protected)'}`,
        );
      process.stdout.write(`${encodeRecipient(key)}\n`);
    });
}
