/**
 * Audit fail-closed: when the audit record cannot be written, no share, plaintext or key change goes out.
 * The app is built with buildApp over a real store and the real audit log, wrapped so appends can be made
 * to fail; the real closed StoreAuditLog is exercised too.
 */
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { createAuthenticator } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { MasterKey, openKeyService, type KeyService } from '../../src/keystore/index.js';
import { buildApp, type DkeApp } from '../../src/service/app.js';
import type { AuditEvent, AuditLog, AuditRecord } from '../../src/service/contracts.js';
import {
  authConfigFor,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
import { assertError, assertNoInternals } from './assertions.js';

const ALICE = 'alice@example.test';

/** The real audit log, with a switch that makes appends fail like a full disk would. */
class SwitchableAudit implements AuditLog {
  broken = false;
  constructor(private readonly inner: AuditLog) {}
  append(event: AuditEvent): Promise<AuditRecord> {
    return this.broken
      ? Promise.reject(new Error('SQLITE_FULL: database or disk is full'))
      : this.inner.append(event);
  }
  query: AuditLog['query'] = (q) => this.inner.query(q);
  verify: AuditLog['verify'] = () => this.inner.verify();
}

describe('audit fail-closed', () => {
  let dir: string;
  let issuer: DevIssuer;
  let service: KeyService;
  let audit: SwitchableAudit;
  let app: DkeApp;
  let url: string;
  let alice: string;
  let admin: string;

  const post = async (urlPath: string, body: unknown, token: string) => {
    const response = await fetch(url + urlPath, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: JSON.parse(text || 'null') as Record<string, unknown> | undefined,
    };
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dke-failclosed-'));
    issuer = await startTestIssuer();
    service = await openKeyService({ dbPath: path.join(dir, 'dke.db'), masterKey: MasterKey.generate() });
    await service.keys.create('docs', { spec: 'P-256' });
    await service.keys.create('office', { protocol: 'ms-dke' });
    for (const name of ['docs', 'office'])
      await service.keys.setPolicy(name, { users: [ALICE], groups: [], roles: [], tenants: [] });
    audit = new SwitchableAudit(service.audit);
    app = buildApp({
      keys: service.keys,
      admin: service.keys,
      audit,
      authenticator: createAuthenticator(
        authConfigFor([issuerConfigFor(issuer, { ...TEST_CLAIMS, adminRoles: ['dke-admin'] })]),
      ),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    alice = await validToken(issuer, { upn: ALICE });
    admin = await validToken(issuer, { sub: 'admin', roles: ['dke-admin'] });
  });
  after(async () => {
    await app.close();
    await service.close();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('native unwrap: 503 and no share while the audit log fails; works again once it recovers', async () => {
    const info = await service.keys.describe('docs');
    const share = randomBytes(32);
    const stanza = await wrapShare(share, publicKeyFromJwk(info.versions[0]!.publicJwk), {
      objectId: randomBytes(16),
      keyId: info.versions[0]!.keyId,
    });
    audit.broken = true;
    const refused = await post('/keys/docs/unwrap', { stanza }, alice);
    assertError(refused, 'ERR_AUDIT_UNAVAILABLE');
    assertNoInternals(refused.text, [share.toString('base64url'), 'SQLITE_FULL']);
    // A refusal that cannot be audited fails closed too.
    assertError(
      await post('/keys/docs/unwrap', { stanza }, await validToken(issuer, { upn: 'eve@example.test' })),
      'ERR_AUDIT_UNAVAILABLE',
    );
    audit.broken = false;
    const served = await post('/keys/docs/unwrap', { stanza }, alice);
    assert.equal(served.status, 200);
    assert.equal(served.json?.share, share.toString('base64url'));
  });

  it('MS DKE decrypt: 503, no plaintext', async () => {
    const info = await service.keys.describe('office');
    const version = info.versions[0]!;
    const secret = randomBytes(32);
    const value = publicEncrypt(
      {
        key: createPublicKey({ key: version.publicJwk as never, format: 'jwk' }),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
      },
      secret,
    ).toString('base64');
    audit.broken = true;
    const refused = await post(`/office/${version.keyId}/decrypt`, { alg: 'RSA-OAEP-256', value }, alice);
    audit.broken = false;
    assertError(refused, 'ERR_AUDIT_UNAVAILABLE');
    assertNoInternals(refused.text, [secret.toString('base64')]);
  });

  it('admin: nothing changes unless the audit record is written', async () => {
    audit.broken = true;
    assertError(await post('/admin/keys', { name: 'ghost', spec: 'P-256' }, admin), 'ERR_AUDIT_UNAVAILABLE');
    assertError(await post('/admin/keys/docs/disable', undefined, admin), 'ERR_AUDIT_UNAVAILABLE');
    audit.broken = false;
    await assert.rejects(() => service.keys.describe('ghost'), { code: 'ERR_KEY_NOT_FOUND' });
    assert.equal((await service.keys.describe('docs')).state, 'enabled');
  });

  it('metrics count the fail-closed answers', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.match(text, /dke_unwraps_total\{protocol="native",key="docs",result="audit_unavailable"\} 2/);
    assert.match(text, /dke_unwraps_total\{protocol="ms-dke",key="office",result="audit_unavailable"\} 1/);
  });
});
