/**
 * A store that cannot be reached (the way a PostgreSQL outage looks: every call rejects
 * ERR_STORE_UNAVAILABLE, the probe says 'unavailable'): /healthz reports it at once, and no key material
 * leaves without a durable audit record. The app runs over the real SQLite store, key manager and audit
 * log; the outage is a switch in front of the store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { createAuthenticator } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { DkeError } from '../../src/errors/index.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { StoreAuditLog } from '../../src/audit/index.js';
import { KeyManager, MasterKey, assertMasterKeyMatches } from '../../src/keystore/index.js';
import { openSqliteStore, type DkeStore, type SqliteStore } from '../../src/store/index.js';
import { buildApp, type DkeApp } from '../../src/service/app.js';
import {
  authConfigFor,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
import { assertError, assertNoInternals } from './assertions.js';
import { requestAt, type HttpAnswer } from './harness.js';

const ALICE = 'alice@example.test';

type Outage = 'none' | 'writes' | 'all';

/**
 * The real store behind a switch: 'writes' rejects audit appends (the database went away between a
 * request's reads and its record), 'all' rejects every call. The probe never rejects, as the contract says.
 */
function behindSwitch(store: DkeStore): { store: DkeStore; outage: Outage } {
  const state = { outage: 'none' as Outage, store: store };
  const unavailable = (): Promise<never> =>
    Promise.reject(new DkeError('ERR_STORE_UNAVAILABLE', { detail: 'connect ECONNREFUSED 127.0.0.1:5432' }));
  state.store = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'probeHealth') {
        return () => (state.outage === 'all' ? Promise.resolve('unavailable') : target.probeHealth());
      }
      const down = (): boolean =>
        state.outage === 'all' || (state.outage === 'writes' && property === 'appendAuditRows');
      return (...args: unknown[]) =>
        down() ? unavailable() : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return state;
}

describe('a store that cannot be reached', () => {
  let dir: string;
  let issuer: DevIssuer;
  let sqlite: SqliteStore;
  let switched: { store: DkeStore; outage: Outage };
  let audit: StoreAuditLog;
  let keys: KeyManager;
  let app: DkeApp;
  let url: string;
  let alice: string;

  const request = (method: string, urlPath: string, body?: unknown): Promise<HttpAnswer> =>
    requestAt(url, method, urlPath, { token: alice, body });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dke-unavailable-'));
    issuer = await startTestIssuer();
    sqlite = openSqliteStore(path.join(dir, 'dke.db'));
    const masterKey = MasterKey.generate();
    await assertMasterKeyMatches(sqlite, masterKey);
    switched = behindSwitch(sqlite);
    keys = new KeyManager(switched.store, masterKey);
    audit = new StoreAuditLog(switched.store);
    await keys.create('docs', { spec: 'P-256' });
    await keys.setPolicy('docs', { users: [ALICE], groups: [], roles: [], tenants: [] });
    app = buildApp({
      keys,
      admin: keys,
      audit,
      authenticator: createAuthenticator(authConfigFor([issuerConfigFor(issuer, TEST_CLAIMS)])),
      storeHealth: () => switched.store.probeHealth(),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    alice = await validToken(issuer, { upn: ALICE });
  });
  after(async () => {
    await app.close();
    await audit.close();
    await sqlite.close();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('/healthz: 503 failing "unavailable" while it cannot be reached, ok again after', async () => {
    switched.outage = 'all';
    const down = await request('GET', '/healthz');
    assert.equal(down.status, 503);
    assert.deepEqual(down.json, { status: 'failing', store: 'unavailable' });
    switched.outage = 'none';
    assert.deepEqual((await request('GET', '/healthz')).json, { status: 'ok', store: 'ok' });
  });

  it('an unwrap whose audit record cannot be committed is 503 ERR_AUDIT_UNAVAILABLE, never the share', async () => {
    const info = await keys.describe('docs');
    const version = info.versions[0]!;
    const share = randomBytes(32);
    const stanza = await wrapShare(share, publicKeyFromJwk(version.publicJwk), {
      objectId: randomBytes(16),
      keyId: version.keyId,
    });
    const before = await sqlite.auditTail();
    switched.outage = 'writes';
    const refused = await request('POST', '/keys/docs/unwrap', { stanza });
    assertError(refused, 'ERR_AUDIT_UNAVAILABLE');
    assertNoInternals(refused.text, [share.toString('base64url'), 'ECONNREFUSED']);
    assert.deepEqual(await sqlite.auditTail(), before, 'nothing was recorded');
    // Nothing is read either while it is down: 503 with the store's own code, still no share.
    switched.outage = 'all';
    const unread = await request('POST', '/keys/docs/unwrap', { stanza });
    assertError(unread, 'ERR_STORE_UNAVAILABLE');
    assertNoInternals(unread.text, [share.toString('base64url'), 'ECONNREFUSED']);
    switched.outage = 'none';
    const served = await request('POST', '/keys/docs/unwrap', { stanza });
    assert.equal(served.status, 200, served.text);
    assert.equal(served.json?.share, share.toString('base64url'));
    assert.equal((await audit.verify()).ok, true);
  });
});
