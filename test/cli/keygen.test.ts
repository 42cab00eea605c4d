/**
 * `dke keygen`: a 0600 key file that is never overwritten, the dkepub1: recipient on stdout, and
 * passphrase-protected keys (DKE_PASSPHRASE or --passphrase-file) that only open with the right passphrase.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeRecipient, keyIdOf } from '../../src/crypto/holder-keys.js';
import { parseKeyFile } from '../../src/holders/key-file.js';
import { EXIT } from '../../src/errors/index.js';
import {
  assertCliError,
  ecKeys,
  patternBytes,
  runCli,
  tempDir,
  writeKeyFile,
} from '../support/format-helpers.js';

const dir = await tempDir();
const cli = (
  args: readonly string[],
  env?: Record<string, string>,
  input?: Buffer,
): ReturnType<typeof runCli> => runCli(args, { cwd: dir, env, input });

interface KeyFileJson {
  type: string;
  version: number;
  keyId: string;
  recipient: string;
  privateKey?: string;
  sealedPrivateKey?: { kdf: string; N: number };
}

void describe('dke keygen', { concurrency: 3 }, () => {
  void test('creates a 0600 key file and prints its dkepub1: recipient', async () => {
    const result = await cli(['keygen', '-o', 'plain.key', '-t', 'P-256']);
    assert.equal(result.code, 0, result.stderr);
    const recipient = result.stdout.toString();
    assert.match(recipient, /^dkepub1:[A-Za-z0-9_-]+\n$/);
    const file = path.join(dir, 'plain.key');
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const text = await fs.readFile(file, 'utf8');
    const json = JSON.parse(text) as KeyFileJson;
    assert.equal(json.type, 'opendke-holder-key');
    assert.equal(json.version, 1);
    assert.equal(json.recipient, recipient.trim());
    assert.equal(typeof json.privateKey, 'string');
    assert.equal(json.sealedPrivateKey, undefined);
    const key = await parseKeyFile(text);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const publicKey = decodeRecipient(recipient.trim());
    assert.equal(await keyIdOf(publicKey), json.keyId);
    assert.equal(await keyIdOf(key), json.keyId);
    assert.equal(result.stderr, `dke: wrote P-256 key ${json.keyId} to plain.key\n`);

    // Never overwritten.
    const again = await cli(['keygen', '-o', 'plain.key', '-t', 'P-256']);
    assertCliError(again, EXIT.IO, ['plain.key already exists']);
    assert.match(again.stderr, /^dke: hint: /m);
    assert.equal(again.stdout.length, 0);
    assert.equal(await fs.readFile(file, 'utf8'), text, 'the existing key file is unchanged');
  });

  void test('default key type is P-384; --quiet prints only the recipient', async () => {
    const result = await cli(['keygen', '-q', '--output', 'default.key']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const key = await parseKeyFile(await fs.readFile(path.join(dir, 'default.key'), 'utf8'));
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.equal(await keyIdOf(decodeRecipient(result.stdout.toString().trim())), await keyIdOf(key));
  });

  void test('a passphrase-protected key round-trips and refuses a wrong or missing passphrase', async () => {
    const env = { DKE_PASSPHRASE: 'correct horse battery staple' };
    const made = await cli(['keygen', '-o', 'sealed.key', '-t', 'P-256'], env);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /passphrase-protected/);
    const json = JSON.parse(await fs.readFile(path.join(dir, 'sealed.key'), 'utf8')) as KeyFileJson;
    assert.equal(json.privateKey, undefined, 'no private key in the clear');
    assert.equal(json.sealedPrivateKey?.kdf, 'scrypt');
    assert.equal(json.sealedPrivateKey?.N, 2 ** 17);

    const other = await writeKeyFile(dir, 'other.key', ecKeys('P-256', 1)[0]!);
    const plaintext = patternBytes(70_000, 4);
    await fs.writeFile(path.join(dir, 'secret.txt'), plaintext);
    // The holder's public key comes from the private key, so a sealed key file needs its passphrase.
    const encrypted = await cli(
      ['encrypt', '-H', 'sealed.key', '-H', other, '-o', 'secret.dke', 'secret.txt'],
      env,
    );
    assert.equal(encrypted.code, 0, encrypted.stderr);

    const [right, wrong, missing, viaFile] = await Promise.all([
      cli(['decrypt', '-i', 'sealed.key', '-i', other, 'secret.dke'], env),
      cli(['decrypt', '-i', 'sealed.key', '-i', other, '-o', 'wrong.out', 'secret.dke'], {
        DKE_PASSPHRASE: 'Correct horse battery staple',
      }),
      cli(['decrypt', '-i', 'sealed.key', '-i', other, 'secret.dke']),
      fs
        .writeFile(path.join(dir, 'pass.txt'), 'correct horse battery staple\n', { mode: 0o600 })
        .then(() =>
          cli(['decrypt', '-i', 'sealed.key', '-i', other, '--passphrase-file', 'pass.txt', 'secret.dke']),
        ),
    ]);
    assert.equal(right.code, 0, right.stderr);
    assert.ok(right.stdout.equals(plaintext));
    assertCliError(wrong, EXIT.KEY, ['sealed.key', 'wrong passphrase']);
    assert.equal(wrong.stdout.length, 0);
    await assert.rejects(fs.stat(path.join(dir, 'wrong.out')));
    assertCliError(missing, EXIT.KEY, ['passphrase-protected']);
    assert.match(missing.stderr, /^dke: hint: .*DKE_PASSPHRASE/m);
    assert.equal(viaFile.code, 0, viaFile.stderr);
    assert.ok(viaFile.stdout.equals(plaintext));
  });

  void test('an empty passphrase is refused and writes nothing', async () => {
    const result = await cli(['keygen', '-o', 'empty.key', '-t', 'P-256'], { DKE_PASSPHRASE: '' });
    assertCliError(result, EXIT.USAGE, ['passphrase is empty']);
    await assert.rejects(fs.stat(path.join(dir, 'empty.key')));
  });
});
