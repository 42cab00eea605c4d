/**
 * Where a key file's passphrase comes from (docs/key-files.md): the first line of `--passphrase-file`, as
 * age and gpg read it, else the DKE_PASSPHRASE environment variable. One rule for every command.
 */
import { promises as fs } from 'node:fs';
import { DkeError } from '../errors/index.js';

export interface PassphraseOptions {
  readonly passphraseFile?: string;
}

/**
 * The passphrase in a passphrase file's bytes: UTF-8 (a leading byte order mark is dropped), up to the
 * first LF, without a CR just before it. Everything else on the line, spaces included, is the passphrase.
 */
export function passphraseFromFile(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); // drops a leading BOM
  } catch {
    throw new DkeError('ERR_USAGE', { message: `passphrase file ${file} is not UTF-8 text` });
  }
  const end = text.indexOf('\n');
  let line = end === -1 ? text : text.slice(0, end);
  if (line.endsWith('\r')) line = line.slice(0, -1);
  if (line === '') {
    throw new DkeError('ERR_USAGE', {
      message: `the first line of passphrase file ${file} is empty`,
      hint: 'the passphrase is the first line of the file; the rest of the file is not used',
    });
  }
  return line;
}

/** The passphrase from --passphrase-file or DKE_PASSPHRASE; undefined if neither is given. Never empty. */
export async function readPassphrase(options: PassphraseOptions): Promise<string | undefined> {
  const file = options.passphraseFile;
  if (file !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (cause) {
      const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
      throw new DkeError('ERR_IO', {
        message: `cannot read passphrase file ${file}${missing ? ': no such file' : ''}`,
        cause,
      });
    }
    return passphraseFromFile(bytes, file);
  }
  const fromEnvironment = process.env.DKE_PASSPHRASE;
  if (fromEnvironment === '') {
    throw new DkeError('ERR_USAGE', {
      message: 'the passphrase is empty',
      hint: 'DKE_PASSPHRASE is set but empty; unset it or give the passphrase',
    });
  }
  return fromEnvironment;
}
