/**
 * A real file under two holders for the console's end-to-end tests: encrypted with the dke CLI to a local
 * provider key and a key of the running service, then decrypted with the CLI by named users (tokens from
 * the development issuer), so the audit log holds real releases and refusals of its object id.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { ecKeys, runCli, writeKeyFile } from './format-helpers.js';
import { TEST_AUDIENCE } from './issuer.js';

export interface ServiceFile {
  /** The plaintext file and the encrypted one, in `dir`. */
  readonly plain: string;
  readonly encrypted: string;
  /** The object id `dke inspect` shows. */
  readonly objectId: string;
  /** `dke decrypt` of the file by `userName` (subject `sub-<userName>`); the CLI's exit code. */
  readonly decryptAs: (userName: string) => Promise<number | null>;
}

export async function encryptForService(
  dir: string,
  serviceUrl: string,
  keyName: string,
  issuer: DevIssuer,
  name = 'board-minutes.txt',
): Promise<ServiceFile> {
  const provider = await writeKeyFile(dir, `${name}.provider.key`, ecKeys('P-256', 1)[0]!);
  const plain = path.join(dir, name);
  writeFileSync(plain, 'Quarterly numbers: confidential.\n');
  const encrypted = `${plain}.dke`;
  const made = await runCli(
    ['encrypt', '-H', provider, '-H', `${serviceUrl}/keys/${keyName}`, '-o', encrypted, plain],
    { cwd: dir },
  );
  if (made.code !== 0) throw new Error(`dke encrypt: ${made.stderr}`);
  const inspected = await runCli(['inspect', '--json', encrypted], { cwd: dir });
  const { objectId } = JSON.parse(inspected.stdout.toString('utf8')) as { objectId: string };
  const decryptAs = async (userName: string): Promise<number | null> => {
    const token = await issuer.signToken({
      sub: `sub-${userName}`,
      aud: TEST_AUDIENCE,
      preferred_username: userName,
    });
    const output = path.join(dir, `${name}.out-${userName}`);
    const result = await runCli(
      ['decrypt', '-f', '-i', provider, '--key-service', `${serviceUrl}/keys`, '-o', output, encrypted],
      { cwd: dir, env: { DKE_TOKEN: token } },
    );
    return result.code;
  };
  return { plain, encrypted, objectId, decryptAs };
}
