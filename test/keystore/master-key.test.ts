import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDkeError } from '../../src/errors/index.js';
import { loadMasterKey, MasterKey, MASTER_KEY_ENV } from '../../src/keystore/index.js';
import { withTempDir } from '../store/temp-dir.js';

const isMasterKeyError = (e: unknown): boolean => isDkeError(e, 'ERR_MASTER_KEY');

void describe('MasterKey', () => {
  void test('seals and opens, bound to the associated data', () => {
    const key = MasterKey.generate();
    const sealed = key.seal(Buffer.from('private key bytes'), 'ctx-a');
    assert.equal(key.open(sealed, 'ctx-a')?.toString(), 'private key bytes');
    assert.equal(key.open(sealed, 'ctx-b'), undefined, 'other context');
    assert.equal(MasterKey.generate().open(sealed, 'ctx-a'), undefined, 'other master key');
    const flipped = Buffer.from(sealed);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    assert.equal(key.open(flipped, 'ctx-a'), undefined, 'altered ciphertext');
    assert.equal(key.open(sealed.subarray(0, 10), 'ctx-a'), undefined, 'truncated');
    assert.notDeepEqual(
      key.seal(Buffer.from('x'), 'c'),
      key.seal(Buffer.from('x'), 'c'),
      'fresh nonce each time',
    );
  });

  void test('parses exactly 32 bytes of base64 in either alphabet', () => {
    const bytes = crypto.randomBytes(32);
    const a = MasterKey.fromBase64(` ${bytes.toString('base64')}\n`, 'test');
    const b = MasterKey.fromBase64(bytes.toString('base64url'), 'test');
    assert.equal(a.fingerprint, b.fingerprint);
    assert.equal(a.fingerprint, MasterKey.fromBytes(bytes).fingerprint);
    for (const bad of [
      '',
      'not base64!',
      crypto.randomBytes(31).toString('base64'),
      crypto.randomBytes(33).toString('base64'),
    ]) {
      assert.throws(() => MasterKey.fromBase64(bad, 'test'), isMasterKeyError, JSON.stringify(bad));
    }
  });

  void test('the check value accepts only the same master key', () => {
    const key = MasterKey.generate();
    assert.equal(key.matchesCheckValue(key.checkValue()), true);
    assert.equal(MasterKey.generate().matchesCheckValue(key.checkValue()), false);
    assert.equal(key.matchesCheckValue('garbage'), false);
  });
});

void describe('loadMasterKey', () => {
  const withDir = withTempDir;

  void test(
    'DKE_MASTER_KEY wins over the file',
    withDir((dir) => {
      const bytes = crypto.randomBytes(32);
      const loaded = loadMasterKey({
        env: { [MASTER_KEY_ENV]: bytes.toString('base64') },
        file: path.join(dir, 'none'),
        createIfMissing: true,
      });
      assert.equal(loaded.source, 'env');
      assert.equal(loaded.masterKey.fingerprint, MasterKey.fromBytes(bytes).fingerprint);
      assert.equal(fs.existsSync(path.join(dir, 'none')), false, 'no file created when the env var is set');
      assert.throws(() => loadMasterKey({ env: { [MASTER_KEY_ENV]: 'short' } }), isMasterKeyError);
    }),
  );

  void test(
    'creates the file once, mode 0600, and reads it back',
    withDir((dir) => {
      const file = path.join(dir, 'keys', 'master.key');
      const created = loadMasterKey({ env: {}, file, createIfMissing: true });
      assert.equal(created.source, 'created');
      if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const again = loadMasterKey({ env: {}, file, createIfMissing: true });
      assert.equal(again.source, 'file');
      assert.equal(again.masterKey.fingerprint, created.masterKey.fingerprint);
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['master.key'], 'no temporary file left behind');
    }),
  );

  void test(
    'a missing, unreadable or malformed file is ERR_MASTER_KEY',
    withDir((dir) => {
      const file = path.join(dir, 'master.key');
      assert.throws(() => loadMasterKey({ env: {}, file }), isMasterKeyError);
      assert.throws(() => loadMasterKey({ env: {} }), isMasterKeyError);
      fs.writeFileSync(file, 'not a key\n', { mode: 0o600 });
      assert.throws(() => loadMasterKey({ env: {}, file }), isMasterKeyError);
    }),
  );

  void test(
    'a key file others can read is refused unless allowed, then flagged',
    { skip: process.platform === 'win32' },
    withDir((dir) => {
      const file = path.join(dir, 'master.key');
      fs.writeFileSync(file, crypto.randomBytes(32).toString('base64'), { mode: 0o600 });
      fs.chmodSync(file, 0o644);
      assert.throws(
        () => loadMasterKey({ env: {}, file }),
        (e: unknown) => isMasterKeyError(e) && /readable by other users/.test((e as Error).message),
      );
      const loaded = loadMasterKey({ env: {}, file, allowInsecurePermissions: true });
      assert.equal(loaded.insecurePermissions, true);
      fs.chmodSync(file, 0o600);
      assert.equal(loadMasterKey({ env: {}, file }).insecurePermissions, false);
    }),
  );
});
