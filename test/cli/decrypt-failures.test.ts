/**
 * `dke decrypt -o out` on damaged or foreign files: the exit code documented for the error (EXIT in
 * src/errors/registry.ts), one `dke: error:` line (plus hints) and no stack trace on stderr, and neither
 * `out` nor a `.out.*.dke-tmp` temporary left behind, even when megabytes of earlier, authentic chunks had
 * already been written before the failure. An existing output (with --force) is left untouched.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ERRORS, EXIT, type ErrorCode } from '../../src/errors/index.js';
import {
  C,
  assertCliError,
  ecKeys,
  encryptToBuffer,
  exists,
  flipBit,
  leftoverTemporaries,
  loadVector,
  localHolders,
  patternBytes,
  privateKeyFromPkcs8,
  runCli,
  tempDir,
  writeKeyFile,
} from '../support/format-helpers.js';

const root = await tempDir();

/** Runs `dke decrypt -i ... -o out input` in a fresh directory; returns the result and what the directory holds. */
async function decryptInFreshDir(
  name: string,
  ciphertext: Buffer,
  keys: readonly Parameters<typeof writeKeyFile>[2][],
  extra: { existingOutput?: string; force?: boolean } = {},
): Promise<{ result: Awaited<ReturnType<typeof runCli>>; dir: string }> {
  const dir = path.join(root, name);
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'input.dke'), ciphertext);
  const args = ['decrypt', '-o', 'out'];
  for (const [i, key] of keys.entries())
    args.push('-i', path.basename(await writeKeyFile(dir, `k${i}.key`, key)));
  if (extra.force === true) args.push('--force');
  if (extra.existingOutput !== undefined) await fs.writeFile(path.join(dir, 'out'), extra.existingOutput);
  args.push('input.dke');
  return { result: await runCli(args, { cwd: dir }), dir };
}

async function assertNothingLeft(dir: string): Promise<void> {
  assert.equal(await exists(path.join(dir, 'out')), false, 'out must not exist');
  assert.deepEqual(await leftoverTemporaries(dir), [], 'no temporary files');
}

/** Representative vectors: each failure class and each exit code. */
const VECTORS: [string, string[]][] = [
  ['fail-bad-magic', ['not an OpenDKE file']],
  ['fail-version-2', ['version 2']],
  ['fail-truncated-header', ['truncated']],
  ['fail-spliced-stanza', []],
  ['fail-unknown-holder-type', ['hsm-v2']],
  ['fail-key-missing', []],
  ['fail-wrong-key-same-kid', []],
  ['fail-flipped-mac', ['decryption failed']],
  ['fail-truncated-at-chunk-boundary', ['decryption failed']],
  ['fail-trailing-byte', ['decryption failed']],
  ['fail-swapped-chunks', ['decryption failed']],
  ['fail-local-locator', ['locator']],
  ['fail-duplicate-holder-key', ['twice']],
  ['fail-jwe-zip', ['zip']],
  ['fail-jwe-duplicate-member', ['duplicate member']],
  ['fail-body-not-jwe', ['compact JWE']],
];

// A 4 MiB + 1 object whose very last chunk is damaged: all earlier chunks authenticate and are written
// to the temporary file before the failure is found.
const keys = ecKeys('P-256', 2);
const plaintext = patternBytes(64 * C + 1, 8);
const object = await encryptToBuffer(plaintext, await localHolders(2));

void describe('dke decrypt failures', { concurrency: 4 }, () => {
  for (const [name, mentions] of VECTORS) {
    void test(`${name}: exit code, dke: error:, no output`, async () => {
      const vector = loadVector(name);
      assert.ok('error' in vector.expect);
      const code: ErrorCode = vector.expect.error;
      const keys = vector.keys.map((key) => privateKeyFromPkcs8(key.pkcs8));
      const { result, dir } = await decryptInFreshDir(name, Buffer.from(vector.ciphertext, 'base64'), keys);
      const holder = vector.expect.holder;
      assertCliError(result, ERRORS[code].exit, holder === undefined ? mentions : [...mentions, holder]);
      assert.equal(result.stdout.length, 0);
      await assertNothingLeft(dir);
    });
  }

  void test('exit codes are the documented ones', () => {
    assert.equal(ERRORS.ERR_FORMAT_MALFORMED.exit, EXIT.FORMAT);
    assert.equal(ERRORS.ERR_FORMAT_UNSUPPORTED_VERSION.exit, EXIT.FORMAT);
    assert.equal(ERRORS.ERR_HOLDER_BINDING_MISMATCH.exit, EXIT.FORMAT);
    assert.equal(ERRORS.ERR_HOLDER_TYPE_UNSUPPORTED.exit, EXIT.FORMAT);
    assert.equal(ERRORS.ERR_HOLDER_KEY_MISSING.exit, EXIT.KEY);
    assert.equal(ERRORS.ERR_HOLDER_UNWRAP_FAILED.exit, EXIT.KEY);
    assert.equal(ERRORS.ERR_DECRYPTION_FAILED.exit, EXIT.DECRYPT);
    assert.deepEqual([EXIT.USAGE, EXIT.IO, EXIT.FORMAT, EXIT.KEY, EXIT.DECRYPT], [2, 3, 4, 5, 6]);
  });

  void test('a damaged last chunk after megabytes of good ones: exit 6, no out, no temporaries', async () => {
    const { result, dir } = await decryptInFreshDir('late-failure', flipBit(object, object.length - 5), keys);
    assertCliError(result, EXIT.DECRYPT, ['decryption failed']);
    await assertNothingLeft(dir);
  });

  void test('truncated mid-file: exit 6, no out, no temporaries', async () => {
    const { result, dir } = await decryptInFreshDir(
      'truncated',
      object.subarray(0, object.length - 3 * (C + 16)),
      keys,
    );
    assertCliError(result, EXIT.DECRYPT);
    await assertNothingLeft(dir);
  });

  void test('with --force an existing output survives a failed decryption unchanged', async () => {
    const { result, dir } = await decryptInFreshDir('forced', flipBit(object, object.length - 5), keys, {
      existingOutput: 'previous contents',
      force: true,
    });
    assertCliError(result, EXIT.DECRYPT);
    assert.equal(await fs.readFile(path.join(dir, 'out'), 'utf8'), 'previous contents');
    assert.deepEqual(await leftoverTemporaries(dir), []);
  });

  void test('the same object undamaged decrypts (the failures above are the damage, not the setup)', async () => {
    const { result, dir } = await decryptInFreshDir('intact', object, keys);
    assert.equal(result.code, 0, result.stderr);
    assert.ok((await fs.readFile(path.join(dir, 'out'))).equals(plaintext));
    assert.deepEqual(await leftoverTemporaries(dir), []);
  });

  void test('to stdout: exit 6 and dke: error: after the authentic part', async () => {
    const dir = path.join(root, 'stdout');
    await fs.mkdir(dir);
    const args = ['decrypt'];
    for (const [i, key] of keys.entries())
      args.push('-i', path.basename(await writeKeyFile(dir, `k${i}.key`, key)));
    const result = await runCli(args, { cwd: dir, input: flipBit(object, object.length - 5) });
    assertCliError(result, EXIT.DECRYPT, ['decryption failed']);
    // Only authenticated plaintext reaches stdout; the failure is in the last chunk.
    assert.ok(result.stdout.length < plaintext.length);
    assert.ok(result.stdout.equals(plaintext.subarray(0, result.stdout.length)));
  });
});
