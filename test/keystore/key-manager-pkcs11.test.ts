/**
 * The key store with keys in a token (NSS softoken): create, import (the MS DKE vector), rotate between
 * backends, use through operators, destroy (C_DestroyObject); the store holds no copy of a token key; the
 * CLI's `dke key create --backend pkcs11`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { isDkeError } from '../../src/errors/index.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { unwrapShareWith } from '../../src/format/share-jwe-operator.js';
import { Pkcs11KeyBackend } from '../../src/keystore/backends/index.js';
import { MasterKey, openKeyService, openKeyServiceAt, type KeyService } from '../../src/keystore/index.js';
import type { DkeStore } from '../../src/store/index.js';
import { createTestDatabase, whenPostgres, withClient, type TestDatabase } from '../support/postgres.js';
import type { Principal } from '../../src/service/contracts.js';
import { cliPath, sharedDir } from '../support/paths.js';
import { createToken, skipWithoutToken, type TestToken } from '../support/tokens.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';

const run = promisify(execFile);
const vectorDir = path.join(sharedDir, 'vectors', 'ms-dke');
const ALICE: Principal = {
  issuer: 'https://login.example.com/tenant-a/v2.0',
  subject: 'alice-sub',
  userIds: ['sub:alice-sub', 'alice@example.com'],
  userName: 'alice@example.com',
  groups: [],
  roles: [],
  isAdmin: false,
};
const ALLOW_ALICE = { users: ['alice@example.com'], groups: [], roles: [], tenants: [] };

describe('key store with keys in a PKCS#11 token', { skip: skipWithoutToken('nss') }, () => {
  let token: TestToken;
  let dir: string;
  let service: KeyService;
  let inspect: Pkcs11KeyBackend;
  const masterKey = MasterKey.generate();

  before(async () => {
    token = createToken('nss');
    dir = makeTempDir();
    service = await openKeyService({ dbPath: path.join(dir, 'dke.db'), masterKey, pkcs11: token.config });
    inspect = Pkcs11KeyBackend.open(token.config);
  });
  after(async () => {
    await service?.close();
    await inspect?.close();
    if (dir !== undefined) removeDir(dir);
    token?.remove();
  });

  test('the MS DKE vector imported into the token decrypts the vector request', async () => {
    const pem = fs.readFileSync(path.join(vectorDir, 'private_key.pkcs1.pem'), 'utf8');
    const info = await service.keys.import('vector', pem, { protocol: 'ms-dke', backend: 'pkcs11' });
    assert.equal(info.versions[0]?.backend, 'pkcs11');
    await service.keys.setPolicy('vector', ALLOW_ALICE);
    const request = JSON.parse(fs.readFileSync(path.join(vectorDir, 'decrypt_request.json'), 'utf8')) as {
      value: string;
    };
    const response = JSON.parse(fs.readFileSync(path.join(vectorDir, 'decrypt_response.json'), 'utf8')) as {
      value: string;
    };
    const { operator } = await service.keys.operatorFor('vector', info.versions[0]?.keyId ?? '', ALICE);
    assert.equal(operator.backend, 'pkcs11');
    const plain = await operator.decryptRsaOaepSha256(Buffer.from(request.value, 'base64'));
    assert.equal(plain.toString('base64'), response.value);
  });

  test('generated in the token, rotated in and out of it; every version unwraps its shares', async () => {
    const created = await service.keys.create('docs', { spec: 'P-384', backend: 'pkcs11' });
    await service.keys.setPolicy('docs', ALLOW_ALICE);
    const v1 = created.versions[0];
    assert.equal(v1?.backend, 'pkcs11');
    const shareFor = async (keyId: string, jwk: crypto.JsonWebKey) => {
      const share = crypto.randomBytes(32);
      const jwe = await wrapShare(share, crypto.createPublicKey({ key: jwk, format: 'jwk' }), {
        objectId: crypto.randomBytes(16),
        keyId,
      });
      return { share, jwe };
    };
    const first = await shareFor(v1?.keyId ?? '', v1?.publicJwk);
    const v2 = (await service.keys.rotate('docs')).versions[1]; // default: the active version's backend
    const v3 = (await service.keys.rotate('docs', { backend: 'software', spec: 'RSA-3072' })).versions[2];
    assert.deepEqual(
      [v2?.backend, v2?.spec, v3?.backend, v3?.spec],
      ['pkcs11', 'P-384', 'software', 'RSA-3072'],
    );
    for (const [version, shared] of [
      [v1, first],
      [v2, await shareFor(v2?.keyId ?? '', v2?.publicJwk as crypto.JsonWebKey)],
      [v3, await shareFor(v3?.keyId ?? '', v3?.publicJwk as crypto.JsonWebKey)],
    ] as const) {
      const { operator } = await service.keys.operatorFor('docs', version?.keyId ?? '', ALICE);
      assert.equal(operator.backend, version?.backend);
      assert.deepEqual((await unwrapShareWith(shared.jwe, operator)).share, shared.share);
    }
  });

  test('the store holds no copy of a token key: no sealed material, only the token reference', async () => {
    const info = await service.keys.describe('docs');
    const db = new Database(path.join(dir, 'dke.db'), { readonly: true });
    try {
      const rows = db
        .prepare('SELECT key_id AS keyId, sealed_private_key AS sealed, token_ref AS ref FROM key_versions')
        .all() as { keyId: string; sealed: Buffer | null; ref: string | null }[];
      for (const version of info.versions) {
        const row = rows.find((r) => r.keyId === version.keyId);
        if (version.backend === 'pkcs11') {
          assert.equal(row?.sealed, null, 'no sealed private key for a token key');
          assert.equal(row?.ref, Buffer.from(version.keyId, 'base64url').toString('hex'));
          const flags = await inspect.privateKeyFlags(row?.ref ?? '');
          assert.equal(flags.sensitive, true);
          assert.equal(flags.extractable, false);
          assert.equal(flags.neverExtractable, true);
        } else {
          assert.ok(Buffer.isBuffer(row?.sealed), 'a software key is sealed in the store');
          assert.equal(row?.ref, null);
        }
      }
    } finally {
      db.close();
    }
  });

  test('destroy removes the token objects (C_DestroyObject) and tombstones the key', async () => {
    const info = await service.keys.describe('docs');
    const refs = info.versions
      .filter((v) => v.backend === 'pkcs11')
      .map((v) => Buffer.from(v.keyId, 'base64url').toString('hex'));
    assert.equal(refs.length, 2);
    const destroyed = await service.keys.destroy('docs');
    assert.equal(destroyed.state, 'destroyed');
    for (const ref of refs) {
      await assert.rejects(inspect.privateKeyFlags(ref), (e: unknown) => isDkeError(e, 'ERR_INTERNAL'));
      assert.equal(await inspect.destroyKey(ref), 0, 'nothing left in the token');
    }
    await assert.rejects(
      service.keys.operatorFor('docs', info.versions[0]?.keyId ?? '', ALICE),
      (e: unknown) => isDkeError(e, 'ERR_KEY_DESTROYED'),
    );
  });

  test('without a token configured, a token key is refused as a configuration error', async () => {
    const info = await service.keys.create('lonely', { spec: 'P-256', backend: 'pkcs11' });
    await service.keys.setPolicy('lonely', ALLOW_ALICE);
    const plain = await openKeyService({ dbPath: path.join(dir, 'dke.db'), masterKey });
    try {
      await assert.rejects(
        plain.keys.operatorFor('lonely', info.versions[0]?.keyId ?? '', ALICE),
        (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
      );
      await assert.rejects(plain.keys.create('nope', { backend: 'pkcs11' }), (e: unknown) =>
        isDkeError(e, 'ERR_CONFIG_INVALID'),
      );
    } finally {
      await plain.close();
    }
  });

  test('dke key create --backend pkcs11 makes the key in the token named by the config', async () => {
    const config = path.join(dir, 'dke.json');
    fs.writeFileSync(config, JSON.stringify({ keys: { backends: { pkcs11: token.config } } }));
    const db = path.join(dir, 'cli.db');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.DKE_MASTER_KEY;
    const { stdout } = await run(
      process.execPath,
      [
        cliPath,
        'key',
        'create',
        'cli-key',
        '--spec',
        'P-256',
        '--backend',
        'pkcs11',
        '-c',
        config,
        '--db',
        db,
        '--master-key-file',
        path.join(dir, 'cli.key'),
        '--json',
      ],
      { env },
    );
    const created = JSON.parse(stdout) as { versions: { keyId: string; backend: string }[] };
    assert.equal(created.versions[0]?.backend, 'pkcs11');
    const ref = Buffer.from(created.versions[0]?.keyId ?? '', 'base64url').toString('hex');
    assert.equal((await inspect.privateKeyFlags(ref)).label, 'opendke/cli-key/v1');
  });
});

whenPostgres('token keys on a PostgreSQL store', (adminUrl) => {
  describe('token keys on a PostgreSQL store (migration 6)', { skip: skipWithoutToken('nss') }, () => {
    let token: TestToken;
    let database: TestDatabase;
    let service: KeyService<DkeStore>;
    const masterKey = MasterKey.generate();

    before(async () => {
      token = createToken('nss');
      database = await createTestDatabase(adminUrl);
      service = await openKeyServiceAt({ dbPath: database.url, masterKey, pkcs11: token.config });
    });
    after(async () => {
      await service?.close();
      await database?.drop();
      token?.remove();
    });

    test('create and rotate in the token, use, destroy: the rows hold the token reference only', async () => {
      await service.keys.create('pg-docs', { spec: 'P-256', backend: 'pkcs11' });
      const info = await service.keys.rotate('pg-docs');
      await service.keys.setPolicy('pg-docs', ALLOW_ALICE);
      const rows = await withClient(
        database.url,
        async (client) =>
          (
            await client.query<{ key_id: string; sealed: Buffer | null; token_ref: string | null }>(
              'SELECT key_id, sealed_private_key AS sealed, token_ref FROM key_versions ORDER BY version',
            )
          ).rows,
      );
      assert.deepEqual(
        rows.map((r) => [r.sealed, r.token_ref]),
        info.versions.map((v) => [null, Buffer.from(v.keyId, 'base64url').toString('hex')]),
      );
      for (const version of info.versions) {
        const { operator } = await service.keys.operatorFor('pg-docs', version.keyId, ALICE);
        const share = crypto.randomBytes(32);
        const jwe = await wrapShare(share, operator.publicKey, {
          objectId: crypto.randomBytes(16),
          keyId: version.keyId,
        });
        assert.deepEqual((await unwrapShareWith(jwe, operator)).share, share);
      }
      assert.equal((await service.keys.destroy('pg-docs')).state, 'destroyed');
      await assert.rejects(
        service.keys.operatorFor('pg-docs', info.versions[0]?.keyId ?? '', ALICE),
        (e: unknown) => isDkeError(e, 'ERR_KEY_DESTROYED'),
      );
    });
  });
});
