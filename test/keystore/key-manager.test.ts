import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { isDkeError, type ErrorCode } from '../../src/errors/index.js';
import { MasterKey, openKeyService, type KeyService } from '../../src/keystore/index.js';
import { unwrapShare, wrapShare } from '../../src/format/share-jwe.js';
import type { Principal } from '../../src/service/contracts.js';
import { sharedDir } from '../support/paths.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';

const vectorDir = path.join(sharedDir, 'vectors', 'ms-dke');
const vectorPem = fs.readFileSync(path.join(vectorDir, 'private_key.pkcs1.pem'), 'utf8');
const readJson = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(vectorDir, name), 'utf8'));

const ALICE: Principal = {
  issuer: 'https://login.example.com/tenant-a/v2.0',
  subject: 'alice-sub',
  tenant: 'tenant-a',
  userIds: ['sub:alice-sub', 'alice@example.com'],
  userName: 'alice@example.com',
  groups: ['finance'],
  roles: [],
  isAdmin: false,
};
const BOB: Principal = {
  ...ALICE,
  subject: 'bob-sub',
  userIds: ['sub:bob-sub', 'bob@example.com'],
  userName: 'bob@example.com',
  groups: [],
};
const ADMIN: Principal = { ...BOB, isAdmin: true, roles: ['admin'] };
const ALLOW_ALICE = { users: ['alice@example.com'], groups: [], roles: [], tenants: [] };
const OBJECT_1 = Buffer.alloc(16, 1).toString('base64url');
const OBJECT_2 = Buffer.alloc(16, 2).toString('base64url');

const rejectsCode = async (work: () => Promise<unknown>, code: ErrorCode): Promise<void> => {
  await assert.rejects(
    work,
    (e: unknown) => isDkeError(e, code) || assert.fail(`expected ${code}, got ${String(e)}`),
  );
};
const pemOf = (key: KeyObject, type: 'pkcs8' | 'pkcs1' | 'sec1' = 'pkcs8'): string =>
  key.export({ type, format: 'pem' }) as string;

// RSA-3072 generation is slow: one key for every test that needs a ready-made one.
let rsa3072: KeyObject | undefined;
const rsa3072Key = (): KeyObject =>
  (rsa3072 ??= crypto.generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 65537 }).privateKey);

void describe('KeyManager', () => {
  let dir: string;
  let masterKey: MasterKey;
  let services: KeyService[];
  let dbPath: string;
  const open = async (key: MasterKey = masterKey): Promise<KeyService> => {
    const service = await openKeyService({ dbPath, masterKey: key });
    services.push(service);
    return service;
  };

  beforeEach(() => {
    dir = makeTempDir();
    dbPath = path.join(dir, 'opendke.db');
    masterKey = MasterKey.generate();
    services = [];
  });
  afterEach(async () => {
    for (const service of services) await service.close();
    removeDir(dir);
  });

  async function shareFor(
    keys: KeyService['keys'],
    name: string,
    objectId = OBJECT_1,
  ): Promise<{ jwe: string; share: Buffer }> {
    const version = await keys.activeVersion(name);
    const share = crypto.randomBytes(32);
    const publicKey = crypto.createPublicKey({ key: version.publicJwk as crypto.JsonWebKey, format: 'jwk' });
    const jwe = await wrapShare(share, publicKey, {
      objectId: Buffer.from(objectId, 'base64url'),
      keyId: version.keyId,
    });
    return { jwe, share };
  }

  void test('create: native defaults to RSA-3072, key id is the RFC 7638 thumbprint, no private members leak', async () => {
    const { keys } = await open();
    const info = await keys.create('finance', { cacheSeconds: 3600 });
    assert.equal(info.name, 'finance');
    assert.equal(info.protocol, 'native');
    assert.equal(info.state, 'enabled');
    assert.equal(info.activeVersion, 1);
    assert.equal(info.cacheSeconds, 3600);
    assert.deepEqual(info.policy, { users: [], groups: [], roles: [], tenants: [] });
    const [v1] = info.versions;
    assert.equal(v1?.spec, 'RSA-3072');
    assert.deepEqual(Object.keys(v1?.publicJwk ?? {}).sort(), ['e', 'kty', 'n']);
    assert.equal(v1?.keyId, await calculateJwkThumbprint(v1?.publicJwk ?? {}, 'sha256'));
    assert.equal(v1?.destroyed, false);
    assert.deepEqual(
      (await keys.list()).map((k) => k.name),
      ['finance'],
    );
  });

  void test('create: key types per protocol, names, duplicates', async () => {
    const { keys } = await open();
    await rejectsCode(() => keys.create('weak', { spec: 'RSA-2048' }), 'ERR_KEY_TOO_WEAK');
    await rejectsCode(() => keys.create('ec-dke', { protocol: 'ms-dke', spec: 'P-256' }), 'ERR_KEY_INVALID');
    const ms = await keys.create('ms', { protocol: 'ms-dke' });
    assert.equal(ms.versions[0]?.spec, 'RSA-2048');
    assert.equal((await keys.create('ec', { spec: 'P-256' })).versions[0]?.spec, 'P-256');
    await rejectsCode(() => keys.create('ec', { spec: 'P-256' }), 'ERR_KEY_EXISTS');
    assert.equal((await keys.create('EC', { spec: 'P-256' })).name, 'EC', 'names are case-sensitive');
    for (const bad of ['', '.hidden', '-x', 'a/b', 'a b', 'ä', 'x'.repeat(65), 'a\nb']) {
      await rejectsCode(() => keys.create(bad, { spec: 'P-256' }), 'ERR_BAD_REQUEST');
    }
    assert.equal((await keys.create(`a${'b'.repeat(63)}`, { spec: 'P-256' })).name.length, 64);
    await rejectsCode(() => keys.create('cache', { spec: 'P-256', cacheSeconds: -1 }), 'ERR_BAD_REQUEST');
    assert.equal((await keys.list()).length, 4);
  });

  void test('import: the shared MS DKE vector publishes its n and e and decrypts its request', async () => {
    const { keys } = await open();
    const info = await keys.import('ms-vector', vectorPem, { protocol: 'ms-dke' });
    const published = (readJson('key.json') as { key: { n: string; e: number } }).key;
    const jwk = info.versions[0]?.publicJwk as { n: string; e: string };
    assert.deepEqual(Buffer.from(jwk.n, 'base64url'), Buffer.from(published.n, 'base64'));
    assert.equal(
      Buffer.from(jwk.e, 'base64url').readUIntBE(0, Buffer.from(jwk.e, 'base64url').length),
      published.e,
    );
    assert.equal(info.versions[0]?.spec, 'RSA-2048');

    await keys.setPolicy('ms-vector', ALLOW_ALICE);
    const request = readJson('decrypt_request.json') as { alg: string; value: string };
    const response = readJson('decrypt_response.json') as { value: string };
    assert.equal(request.alg, 'RSA-OAEP-256');
    const { key } = await keys.privateKeyFor('ms-vector', info.versions[0]?.keyId ?? '', ALICE);
    const plain = crypto.privateDecrypt(
      { key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(request.value, 'base64'),
    );
    assert.equal(plain.toString('base64'), response.value);
  });

  void test('import: PKCS#1 and PKCS#8 PEMs, type rules, bad PEMs', async () => {
    const { keys } = await open();
    const vectorKey = crypto.createPrivateKey(vectorPem);
    // The same 2048-bit key as PKCS#8 is too weak for a native key.
    await rejectsCode(() => keys.import('native-2048', pemOf(vectorKey, 'pkcs8')), 'ERR_KEY_TOO_WEAK');
    const ms8 = await keys.import('ms8', pemOf(vectorKey, 'pkcs8'), { protocol: 'ms-dke' });
    await rejectsCode(() => keys.import('ms1', vectorPem, { protocol: 'ms-dke' }), 'ERR_KEY_EXISTS');
    assert.equal(ms8.versions[0]?.spec, 'RSA-2048');

    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    assert.equal((await keys.import('ec-sec1', pemOf(ec, 'sec1'))).versions[0]?.spec, 'P-384');
    const rsa = rsa3072Key();
    assert.equal((await keys.import('rsa-pkcs1', pemOf(rsa, 'pkcs1'))).versions[0]?.spec, 'RSA-3072');
    await rejectsCode(
      () => keys.import('ms-3072', pemOf(rsa, 'pkcs8'), { protocol: 'ms-dke' }),
      'ERR_KEY_INVALID',
    );
    await rejectsCode(
      () => keys.import('mismatch', pemOf(ec, 'pkcs8'), { spec: 'P-256' }),
      'ERR_KEY_INVALID',
    );

    await rejectsCode(
      () => keys.import('pub', crypto.createPublicKey(ec).export({ type: 'spki', format: 'pem' }) as string),
      'ERR_KEY_INVALID',
    );
    await rejectsCode(() => keys.import('junk', 'not a pem'), 'ERR_KEY_INVALID');
    const encrypted = ec.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    }) as string;
    await rejectsCode(() => keys.import('enc', encrypted), 'ERR_KEY_INVALID');
    const ed = crypto.generateKeyPairSync('ed25519').privateKey;
    await rejectsCode(() => keys.import('ed', pemOf(ed)), 'ERR_KEY_INVALID');
    assert.deepEqual(
      (await keys.list()).map((k) => k.name),
      ['ec-sec1', 'ms8', 'rsa-pkcs1'],
    );
  });

  void test('import: a larger ms-dke key only when asked for explicitly', async () => {
    const { keys } = await open();
    const info = await keys.import('ms-3072', pemOf(rsa3072Key()), { protocol: 'ms-dke', spec: 'RSA-3072' });
    assert.equal(info.versions[0]?.spec, 'RSA-3072');
  });

  void test('rotate: the new version is active and old versions still unwrap', async () => {
    const { keys } = await open();
    await keys.create('k', { spec: 'P-256' });
    await keys.setPolicy('k', ALLOW_ALICE);
    const old = await shareFor(keys, 'k');
    const v1 = await keys.activeVersion('k');

    const rotated = await keys.rotate('k');
    assert.equal(rotated.activeVersion, 2);
    assert.equal(rotated.versions.length, 2);
    assert.equal(rotated.versions[1]?.spec, 'P-256', 'keeps the key type');
    assert.notEqual(rotated.versions[1]?.keyId, v1.keyId);

    const fresh = await shareFor(keys, 'k');
    const viaV1 = await keys.privateKeyFor('k', v1.keyId, ALICE, OBJECT_1);
    assert.equal(viaV1.version.version, 1);
    assert.deepEqual((await unwrapShare(old.jwe, viaV1.key)).share, old.share);
    const viaV2 = await keys.privateKeyFor('k', (await keys.activeVersion('k')).keyId, ALICE, OBJECT_1);
    assert.deepEqual((await unwrapShare(fresh.jwe, viaV2.key)).share, fresh.share);

    const imported = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
    const v3 = await keys.rotate('k', { pem: pemOf(imported), spec: 'P-521' });
    assert.equal(v3.activeVersion, 3);
    assert.equal(v3.versions[2]?.spec, 'P-521');
    await rejectsCode(() => keys.rotate('k', { pem: pemOf(imported) }), 'ERR_KEY_EXISTS');
    await rejectsCode(() => keys.rotate('k', { spec: 'RSA-2048' }), 'ERR_KEY_TOO_WEAK');
    await rejectsCode(() => keys.rotate('missing'), 'ERR_KEY_NOT_FOUND');
    assert.equal((await keys.describe('k')).versions.length, 3);
  });

  void test('rotate: ms-dke keys stay RSA-2048', async () => {
    const { keys } = await open();
    await keys.import('ms', vectorPem, { protocol: 'ms-dke' });
    const info = await keys.rotate('ms');
    assert.deepEqual(
      info.versions.map((v) => v.spec),
      ['RSA-2048', 'RSA-2048'],
    );
  });

  void test('disable and enable take effect on the next call, also from another process', async () => {
    const server = await open();
    await server.keys.create('k', { spec: 'P-256' });
    await server.keys.setPolicy('k', ALLOW_ALICE);
    const keyId = (await server.keys.activeVersion('k')).keyId;
    assert.ok((await server.keys.privateKeyFor('k', keyId, ALICE)).key, 'usable and now cached');

    const cli = await open();
    assert.equal((await cli.keys.disable('k')).state, 'disabled');
    await rejectsCode(() => server.keys.privateKeyFor('k', keyId, ALICE), 'ERR_KEY_DISABLED');
    assert.equal((await cli.keys.enable('k')).state, 'enabled');
    assert.ok((await server.keys.privateKeyFor('k', keyId, ALICE)).key);
  });

  void test('destroy: every version is gone for good, the name stays taken', async () => {
    const server = await open();
    await server.keys.create('k', { spec: 'P-256' });
    await server.keys.setPolicy('k', ALLOW_ALICE);
    const v1 = (await server.keys.activeVersion('k')).keyId;
    await server.keys.rotate('k');
    const v2 = (await server.keys.activeVersion('k')).keyId;
    await server.keys.privateKeyFor('k', v1, ALICE);

    const cli = await open();
    await cli.keys.disable('k');
    const destroyed = await cli.keys.destroy('k');
    assert.equal(destroyed.state, 'destroyed');
    assert.ok(destroyed.versions.every((v) => v.destroyed));
    for (const keyId of [v1, v2]) {
      await rejectsCode(() => server.keys.privateKeyFor('k', keyId, ALICE), 'ERR_KEY_DESTROYED');
      await rejectsCode(() => cli.keys.privateKeyFor('k', keyId, ALICE), 'ERR_KEY_DESTROYED');
    }
    await rejectsCode(() => cli.keys.enable('k'), 'ERR_KEY_DESTROYED');
    await rejectsCode(() => cli.keys.setPolicy('k', ALLOW_ALICE), 'ERR_KEY_DESTROYED');
    await rejectsCode(() => cli.keys.revokeObject('k', OBJECT_1), 'ERR_KEY_DESTROYED');
    await rejectsCode(() => cli.keys.activeVersion('k'), 'ERR_KEY_DESTROYED');
    await rejectsCode(() => cli.keys.rotate('k'), 'ERR_KEY_DESTROYED');
    await rejectsCode(() => cli.keys.create('k', { spec: 'P-256' }), 'ERR_KEY_EXISTS');
    assert.equal((await cli.keys.destroy('k')).state, 'destroyed', 'destroy is idempotent');
    const raw = cli.store
      .unsafeDatabase()
      .prepare('SELECT count(*) AS n FROM key_versions WHERE sealed_private_key IS NOT NULL')
      .get();
    assert.deepEqual(raw, { n: 0 });
    await rejectsCode(() => cli.keys.destroy('missing'), 'ERR_KEY_NOT_FOUND');
  });

  void test('privateKeyFor checks in the documented order', async () => {
    const { keys } = await open();
    await keys.create('a', { spec: 'P-256' });
    await keys.create('b', { spec: 'P-256' });
    const a = (await keys.activeVersion('a')).keyId;
    const b = (await keys.activeVersion('b')).keyId;
    await rejectsCode(() => keys.privateKeyFor('nope', a, ALICE), 'ERR_KEY_NOT_FOUND');
    await rejectsCode(() => keys.privateKeyFor('../a', a, ALICE), 'ERR_KEY_NOT_FOUND');
    await rejectsCode(() => keys.privateKeyFor('a', b, ALICE), 'ERR_KEY_NOT_FOUND'); // another key's id
    await rejectsCode(() => keys.privateKeyFor('a', 'unknown', ALICE), 'ERR_KEY_NOT_FOUND');
    await keys.revokeObject('a', OBJECT_1);
    await rejectsCode(() => keys.privateKeyFor('a', a, ALICE, OBJECT_1), 'ERR_FORBIDDEN'); // policy before revocation
    await keys.setPolicy('a', ALLOW_ALICE);
    await rejectsCode(() => keys.privateKeyFor('a', a, ALICE, OBJECT_1), 'ERR_OBJECT_REVOKED');
    await keys.setPolicy('a', { users: [], groups: [], roles: [], tenants: [] });
    await keys.disable('a');
    await rejectsCode(() => keys.privateKeyFor('a', a, ALICE, OBJECT_1), 'ERR_KEY_DISABLED'); // state before policy
    await keys.destroy('a');
    await rejectsCode(() => keys.privateKeyFor('a', a, ALICE, OBJECT_1), 'ERR_KEY_DESTROYED'); // destroyed before disabled
  });

  void test('policy: deny by default, normalized, and never shared between keys', async () => {
    const { keys } = await open();
    await keys.create('a', { spec: 'P-256' });
    await keys.create('b', { spec: 'P-256' });
    const a = (await keys.activeVersion('a')).keyId;
    const b = (await keys.activeVersion('b')).keyId;
    for (const who of [ALICE, BOB, ADMIN])
      await rejectsCode(() => keys.privateKeyFor('a', a, who), 'ERR_FORBIDDEN');

    const info = await keys.setPolicy('a', {
      users: ['  Alice@Example.COM ', 'alice@example.com'],
      groups: [],
      roles: [],
      tenants: [],
    });
    assert.deepEqual(info.policy, ALLOW_ALICE);
    assert.ok((await keys.privateKeyFor('a', a, ALICE)).key);
    await rejectsCode(() => keys.privateKeyFor('a', a, BOB), 'ERR_FORBIDDEN');
    await rejectsCode(() => keys.privateKeyFor('b', b, ALICE), 'ERR_FORBIDDEN'); // a's policy does not leak to b

    await keys.setPolicy('b', { users: [], groups: ['Finance'], roles: [], tenants: ['tenant-a'] });
    assert.ok((await keys.privateKeyFor('b', b, ALICE)).key);
    await rejectsCode(() => keys.privateKeyFor('b', b, BOB), 'ERR_FORBIDDEN');
    await rejectsCode(
      () => keys.privateKeyFor('b', b, { ...ALICE, issuer: 'https://evil.example', tenant: 'other' }),
      'ERR_FORBIDDEN',
    );
    assert.deepEqual((await keys.describe('a')).policy, ALLOW_ALICE, 'setting b left a alone');

    await keys.setPolicy('a', { users: [], groups: [], roles: [], tenants: [] });
    await rejectsCode(() => keys.privateKeyFor('a', a, ALICE), 'ERR_FORBIDDEN'); // replaced, not merged

    const invalid: unknown[] = [{ users: [''] }, { users: 'alice' }, { users: [1] }, { admins: [] }, null];
    for (const policy of invalid) {
      await rejectsCode(() => keys.setPolicy('a', policy as never), 'ERR_BAD_REQUEST');
    }
    await rejectsCode(() => keys.setPolicy('missing', ALLOW_ALICE), 'ERR_KEY_NOT_FOUND');
  });

  void test('revocation: one object of one key only', async () => {
    const { keys } = await open();
    await keys.create('a', { spec: 'P-256' });
    await keys.create('b', { spec: 'P-256' });
    await keys.setPolicy('a', ALLOW_ALICE);
    await keys.setPolicy('b', ALLOW_ALICE);
    const a = (await keys.activeVersion('a')).keyId;
    const b = (await keys.activeVersion('b')).keyId;
    assert.equal(await keys.revokeObject('a', OBJECT_1), true);
    assert.equal(await keys.revokeObject('a', OBJECT_1), false);
    assert.equal(await keys.isRevoked('a', OBJECT_1), true);
    await rejectsCode(() => keys.privateKeyFor('a', a, ALICE, OBJECT_1), 'ERR_OBJECT_REVOKED');
    assert.ok((await keys.privateKeyFor('a', a, ALICE, OBJECT_2)).key);
    assert.ok((await keys.privateKeyFor('a', a, ALICE)).key);
    assert.ok((await keys.privateKeyFor('b', b, ALICE, OBJECT_1)).key);
    assert.deepEqual(
      (await keys.listRevokedObjects('a')).map((r) => r.objectId),
      [OBJECT_1],
    );
    assert.equal(await keys.unrevokeObject('a', OBJECT_1), true);
    assert.ok((await keys.privateKeyFor('a', a, ALICE, OBJECT_1)).key);
    for (const bad of ['', 'AQ==', `${OBJECT_1}=`, 'not base64!', 'AB']) {
      await rejectsCode(() => keys.revokeObject('a', bad), 'ERR_BAD_REQUEST');
      await rejectsCode(() => keys.privateKeyFor('a', a, ALICE, bad), 'ERR_BAD_REQUEST');
    }
    await rejectsCode(() => keys.revokeObject('missing', OBJECT_1), 'ERR_KEY_NOT_FOUND');
  });

  void test('cache seconds', async () => {
    const { keys } = await open();
    await keys.create('k', { spec: 'P-256' });
    assert.equal((await keys.describe('k')).cacheSeconds, undefined);
    assert.equal((await keys.setCacheSeconds('k', 300)).cacheSeconds, 300);
    assert.equal((await keys.setCacheSeconds('k', 0)).cacheSeconds, undefined);
    for (const bad of [-1, 1.5, Number.NaN, 400 * 24 * 3600])
      await rejectsCode(() => keys.setCacheSeconds('k', bad), 'ERR_BAD_REQUEST');
  });

  void test('a wrong master key is ERR_MASTER_KEY at open; the right one still works after', async () => {
    const first = await open();
    await first.keys.create('k', { spec: 'P-256' });
    await first.close();
    await rejectsCode(() => open(MasterKey.generate()), 'ERR_MASTER_KEY');
    const again = await open();
    assert.equal((await again.keys.describe('k')).state, 'enabled');
  });

  void test('sealed material moved to another row does not open', async () => {
    const { keys, store } = await open();
    await keys.create('a', { spec: 'P-256' });
    await keys.create('b', { spec: 'P-256' });
    await keys.rotate('b');
    for (const name of ['a', 'b']) await keys.setPolicy(name, ALLOW_ALICE);
    const db = store.unsafeDatabase();
    const sealedOf = (name: string, version: number): Buffer =>
      (
        db
          .prepare('SELECT sealed_private_key AS s FROM key_versions WHERE key_name = ? AND version = ?')
          .get(name, version) as { s: Buffer }
      ).s;
    const put = (name: string, version: number, sealed: Buffer): void => {
      db.prepare('UPDATE key_versions SET sealed_private_key = ? WHERE key_name = ? AND version = ?').run(
        sealed,
        name,
        version,
      );
    };
    const [a1, b1, b2] = [sealedOf('a', 1), sealedOf('b', 1), sealedOf('b', 2)];
    put('a', 1, b1); // to another key
    put('b', 1, b2); // to another version of the same key
    const fresh = await open(); // no cached private keys
    await rejectsCode(
      async () => fresh.keys.privateKeyFor('a', (await fresh.keys.activeVersion('a')).keyId, ALICE),
      'ERR_INTERNAL',
    );
    await rejectsCode(
      async () =>
        fresh.keys.privateKeyFor('b', (await fresh.keys.describe('b')).versions[0]?.keyId ?? '', ALICE),
      'ERR_INTERNAL',
    );
    put('a', 1, a1);
    assert.ok(
      (await fresh.keys.privateKeyFor('a', (await fresh.keys.activeVersion('a')).keyId, ALICE)).key,
      'back in place it opens',
    );
  });

  void test('closing and reopening loses nothing', async () => {
    const first = await open();
    await first.keys.create('k', { spec: 'P-256', cacheSeconds: 60 });
    await first.keys.rotate('k');
    await first.keys.setPolicy('k', ALLOW_ALICE);
    await first.keys.revokeObject('k', OBJECT_1);
    await first.keys.import('ms', vectorPem, { protocol: 'ms-dke' });
    await first.keys.disable('ms');
    const before = await first.keys.list();
    await first.close();

    const second = await open();
    assert.deepEqual(await second.keys.list(), before);
    assert.equal(await second.keys.isRevoked('k', OBJECT_1), true);
    for (const version of (await second.keys.describe('k')).versions) {
      assert.ok((await second.keys.privateKeyFor('k', version.keyId, ALICE, OBJECT_2)).key);
    }
  });
});
