/**
 * Tenant isolation end to end (issue 9 item 1): two development issuers on one real key service over real
 * HTTP. A key restricted to tenant B must never open for a token of issuer A, whatever `tid` A puts in it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import type { IssuerConfig } from '../../src/auth/index.js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { ADMIN_ROLE, startHarness, type Harness } from '../service/harness.js';
import { assertError } from '../service/assertions.js';
import { auditRecords, verifyAudit } from '../service/audit-reader.js';
import { issuerConfigFor, startTestIssuer, TEST_CLAIMS, validToken } from '../support/issuer.js';

const TENANT_B = 'tenant-b';

describe('tenant isolation between two issuers on one server', () => {
  let h: Harness;
  let b: DevIssuer;
  /** Issuer B is tenant-scoped like Entra: its `iss` names the tenant, and its config pins it. */
  let issuerB: string;

  before(async () => {
    b = await startTestIssuer({ alg: 'RS256' });
    issuerB = `${b.issuer}/${TENANT_B}/v2.0`;
    const configB: IssuerConfig = {
      issuer: issuerB,
      jwksUri: b.jwksUri,
      algorithms: [b.alg],
      tenantId: TENANT_B,
      ...TEST_CLAIMS,
    };
    h = await startHarness({
      issuers: (a) => [issuerConfigFor(a, { ...TEST_CLAIMS, adminRoles: [ADMIN_ROLE] }), configB],
    });
    const admin = await h.adminToken();
    for (const [name, tenants] of [
      ['by-tenant-id', [TENANT_B]],
      ['by-issuer-url', [issuerB]],
    ] as const) {
      const answer = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name, spec: 'P-256', policy: { tenants } },
      });
      assert.equal(answer.status, 201, answer.text);
    }
  });
  after(async () => {
    await h.close();
    await b.close();
  });

  async function unwrap(name: string, token: string): Promise<{ status: number; objectId: string }> {
    const published = await h.request('GET', `/keys/${name}`);
    const objectId = randomBytes(16);
    const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
      objectId,
      keyId: published.json?.keyId as string,
    });
    const answer = await h.request('POST', `/keys/${name}/unwrap`, { token, body: { stanza } });
    if (answer.status !== 200) assertError(answer, 'ERR_FORBIDDEN');
    return { status: answer.status, objectId: objectId.toString('base64url') };
  }

  async function assertDeniedAndAudited(objectId: string, subject: string): Promise<void> {
    const records = await auditRecords(h, { objectId });
    assert.equal(records.length, 1);
    assert.equal(records[0]?.result, 'denied');
    assert.equal(records[0]?.reason, 'ERR_FORBIDDEN');
    assert.equal(records[0]?.subject, subject);
    assert.equal(records[0]?.issuer, h.issuer.issuer, 'the denial names the real issuer A');
  }

  for (const name of ['by-tenant-id', 'by-issuer-url']) {
    it(`${name}: a token of issuer A claiming tid = tenant B's id is refused (403, audited)`, async () => {
      const forged = await validToken(h.issuer, { sub: 'mallory-1', tid: TENANT_B });
      const result = await unwrap(name, forged);
      assert.equal(result.status, 403);
      await assertDeniedAndAudited(result.objectId, 'mallory-1');
    });

    it(`${name}: a token of issuer A claiming tid = issuer B's URL is refused (403, audited)`, async () => {
      const forged = await validToken(h.issuer, { sub: 'mallory-2', tid: issuerB });
      const result = await unwrap(name, forged);
      assert.equal(result.status, 403);
      await assertDeniedAndAudited(result.objectId, 'mallory-2');
    });

    it(`${name}: a legitimate token of tenant B is allowed`, async () => {
      const legit = await validToken(b, { iss: issuerB, sub: 'bob', tid: TENANT_B });
      const result = await unwrap(name, legit);
      assert.equal(result.status, 200);
      const [record] = await auditRecords(h, { objectId: result.objectId });
      assert.equal(record?.result, 'allowed');
      assert.equal(record?.issuer, issuerB);
    });
  }

  it('the audit chain verifies', async () => {
    assert.equal((await verifyAudit(h)).ok, true);
  });
});
