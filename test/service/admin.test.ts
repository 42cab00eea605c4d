/** The admin API over real HTTP: admin role required, every call audited, lifecycle, policy, audit query. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from './harness.js';
import { assertError } from './assertions.js';
import { auditRecords, verifyAudit } from './audit-reader.js';

describe('admin API', () => {
  let h: Harness;
  let admin: string;
  let user: string;

  before(async () => {
    h = await startHarness();
    admin = await h.adminToken();
    user = await h.token({ sub: 'plain-user', upn: 'user@example.test' });
  });
  after(() => h.close());

  it('needs a token (401, not audited) and the admin role (403, audited as denied)', async () => {
    const before = auditRecords(h).length;
    assertError(await h.request('GET', '/admin/keys'), 'ERR_AUTH_MISSING');
    assert.equal(auditRecords(h).length, before);
    assertError(
      await h.request('POST', '/admin/keys', { token: user, body: { name: 'mine', spec: 'P-256' } }),
      'ERR_ADMIN_REQUIRED',
    );
    const [record] = auditRecords(h, { subject: 'plain-user' });
    assert.equal(record?.action, 'admin.key.create');
    assert.equal(record?.result, 'denied');
    assert.equal(record?.reason, 'ERR_ADMIN_REQUIRED');
    assert.equal(record?.keyName, 'mine');
    assertError(await h.request('GET', '/admin/keys/mine', { token: admin }), 'ERR_KEY_NOT_FOUND');
  });

  it('creates, lists, sets policy, rotates, disables, enables and destroys, each audited allowed → ok', async () => {
    const created = await h.request('POST', '/admin/keys', {
      token: admin,
      body: { name: 'k1', spec: 'P-256', policy: { users: [' Alice@Example.test '] } },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json?.policy, {
      users: ['alice@example.test'],
      groups: [],
      roles: [],
      tenants: [],
    });

    const listed = await h.request('GET', '/admin/keys', { token: admin });
    assert.deepEqual(
      (listed.json?.keys as { name: string }[]).map((k) => k.name),
      ['k1'],
    );

    const policy = await h.request('PUT', '/admin/keys/k1/policy', {
      token: admin,
      body: { groups: ['Readers'] },
    });
    assert.deepEqual(policy.json?.policy, { users: [], groups: ['readers'], roles: [], tenants: [] });
    // Refused by the route schema, before anything runs (so there is nothing to audit).
    assertError(
      await h.request('PUT', '/admin/keys/k1/policy', { token: admin, body: { people: [] } }),
      'ERR_BAD_REQUEST',
    );

    const rotated = await h.request('POST', '/admin/keys/k1/rotate', { token: admin });
    assert.equal(rotated.json?.activeVersion, 2);
    assert.equal(
      (await h.request('POST', '/admin/keys/k1/disable', { token: admin })).json?.state,
      'disabled',
    );
    assert.equal((await h.request('POST', '/admin/keys/k1/enable', { token: admin })).json?.state, 'enabled');
    assertError(
      await h.request('POST', '/admin/keys/k1/destroy', { token: admin, body: { confirm: 'k2' } }),
      'ERR_BAD_REQUEST',
    );
    const destroyed = await h.request('POST', '/admin/keys/k1/destroy', {
      token: admin,
      body: { confirm: 'k1' },
    });
    assert.equal(destroyed.json?.state, 'destroyed');

    const actions = auditRecords(h, { keyName: 'k1' })
      .reverse()
      .map((r) => `${r.action}:${r.result}`);
    assert.deepEqual(actions, [
      'admin.key.create:allowed',
      'admin.key.create:ok',
      'admin.policy.set:allowed',
      'admin.policy.set:ok',
      'admin.key.rotate:allowed',
      'admin.key.rotate:ok',
      'admin.key.disable:allowed',
      'admin.key.disable:ok',
      'admin.key.enable:allowed',
      'admin.key.enable:ok',
      'admin.key.destroy:allowed',
      'admin.key.destroy:failed',
      'admin.key.destroy:allowed',
      'admin.key.destroy:ok',
    ]);
    const rotateOk = auditRecords(h, { keyName: 'k1' }).find(
      (r) => r.action === 'admin.key.rotate' && r.result === 'ok',
    );
    assert.equal(rotateOk?.keyVersion, 2);
  });

  it('refuses key names that collide with routes', async () => {
    for (const name of ['keys', 'admin', 'healthz', 'metrics', 'Metrics']) {
      const answer = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name, protocol: 'ms-dke' },
      });
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.match(answer.json?.message as string, /reserved/);
    }
  });

  it('validates bodies: unknown fields, bad spec, bad object id', async () => {
    assertError(
      await h.request('POST', '/admin/keys', { token: admin, body: { name: 'x', colour: 'red' } }),
      'ERR_BAD_REQUEST',
    );
    assertError(
      await h.request('POST', '/admin/keys', { token: admin, body: { name: 'x', spec: 'RSA-1024' } }),
      'ERR_BAD_REQUEST',
    );
    await h.request('POST', '/admin/keys', { token: admin, body: { name: 'k2', spec: 'P-256' } });
    assertError(
      await h.request('PUT', '/admin/keys/k2/revocations/not+base64url', { token: admin }),
      'ERR_BAD_REQUEST',
    );
  });

  it('revokes and lists objects, and sets the cache period', async () => {
    const objectId = 'AAECAwQFBgcICQoLDA0ODw';
    assert.deepEqual(
      (await h.request('PUT', `/admin/keys/k2/revocations/${objectId}`, { token: admin })).json,
      {
        objectId,
        revoked: true,
        changed: true,
      },
    );
    assert.equal(
      (await h.request('PUT', `/admin/keys/k2/revocations/${objectId}`, { token: admin })).json?.changed,
      false,
    );
    const listed = await h.request('GET', '/admin/keys/k2/revocations', { token: admin });
    assert.deepEqual(
      (listed.json?.revoked as { objectId: string }[]).map((r) => r.objectId),
      [objectId],
    );
    const cache = await h.request('PUT', '/admin/keys/k2/cache', {
      token: admin,
      body: { cacheSeconds: 3600 },
    });
    assert.equal(cache.json?.cacheSeconds, 3600);
  });

  it('queries and verifies the audit log (and audits doing so)', async () => {
    const answer = await h.request('GET', '/admin/audit?key=k2&limit=2', { token: admin });
    const records = answer.json?.records as { keyName: string }[];
    assert.equal(records.length, 2);
    assert.ok(records.every((r) => r.keyName === 'k2'));
    assertError(await h.request('GET', '/admin/audit?since=yesterday', { token: admin }), 'ERR_BAD_REQUEST');
    assertError(await h.request('GET', '/admin/audit?bogus=1', { token: admin }), 'ERR_BAD_REQUEST');
    const verified = await h.request('GET', '/admin/audit/verify', { token: admin });
    assert.equal(verified.json?.ok, true);
    // Two queries ran (one ok, one failed on `since`), each recorded twice; the schema refused the third.
    const queries = auditRecords(h, { identity: 'admin@example.test' }).filter(
      (r) => r.action === 'admin.audit.query',
    );
    assert.deepEqual(
      queries.map((r) => r.result),
      ['failed', 'allowed', 'ok', 'allowed'],
    );
    assert.equal(verifyAudit(h).ok, true);
  });
});
