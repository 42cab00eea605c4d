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
    const before = (await auditRecords(h)).length;
    assertError(await h.request('GET', '/admin/keys'), 'ERR_AUTH_MISSING');
    assert.equal((await auditRecords(h)).length, before);
    assertError(
      await h.request('POST', '/admin/keys', { token: user, body: { name: 'mine', spec: 'P-256' } }),
      'ERR_ADMIN_REQUIRED',
    );
    const [record] = await auditRecords(h, { subject: 'plain-user' });
    assert.equal(record?.action, 'admin.key.create');
    assert.equal(record?.result, 'denied');
    assert.equal(record?.reason, 'ERR_ADMIN_REQUIRED');
    // Refused before the body is read: only a key named in the URL is recorded.
    assert.equal(record?.keyName, undefined);
    assertError(await h.request('POST', '/admin/keys/mine/disable', { token: user }), 'ERR_ADMIN_REQUIRED');
    const [disable] = await auditRecords(h, { subject: 'plain-user' });
    assert.equal(disable?.action, 'admin.key.disable');
    assert.equal(disable?.result, 'denied');
    assert.equal(disable?.keyName, 'mine');
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

    const actions = (await auditRecords(h, { keyName: 'k1' }))
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
    const rotateOk = (await auditRecords(h, { keyName: 'k1' })).find(
      (r) => r.action === 'admin.key.rotate' && r.result === 'ok',
    );
    assert.equal(rotateOk?.keyVersion, 2);
  });

  describe('authenticates and checks the role before looking at the request', () => {
    const bogusPolicy = { body: { bogus: 1 } };
    const invalidJson = { rawBody: '{"users": [', headers: { 'content-type': 'application/json' } };
    const textBody = { rawBody: 'users=x', headers: { 'content-type': 'text/plain' } };
    const longName = 'n'.repeat(65);

    it('no token: 401 whatever the body, query or parameters, never schema detail', async () => {
      for (const options of [bogusPolicy, invalidJson, textBody]) {
        const answer = await h.request('PUT', '/admin/keys/x/policy', options);
        assertError(answer, 'ERR_AUTH_MISSING');
        assert.doesNotMatch(answer.text, /bogus|body|JSON|media/);
      }
      assertError(await h.request('GET', '/admin/audit?bogus=1&limit=x'), 'ERR_AUTH_MISSING');
      assertError(await h.request('GET', `/admin/keys/${longName}`), 'ERR_AUTH_MISSING');
      assertError(
        await h.request('POST', '/admin/keys', { ...bogusPolicy, token: 'not-a-token' }),
        'ERR_AUTH_INVALID',
      );
    });

    it('no admin role: 403 whatever the body, audited as denied with the key of the URL', async () => {
      for (const options of [bogusPolicy, invalidJson, textBody]) {
        const answer = await h.request('PUT', '/admin/keys/x/policy', { ...options, token: user });
        assertError(answer, 'ERR_ADMIN_REQUIRED');
        assert.doesNotMatch(answer.text, /bogus|body|JSON|media/);
      }
      const [record] = await auditRecords(h, { subject: 'plain-user' });
      assert.equal(record?.action, 'admin.policy.set');
      assert.equal(record?.result, 'denied');
      assert.equal(record?.keyName, 'x');
      assertError(await h.request('GET', '/admin/audit?bogus=1', { token: user }), 'ERR_ADMIN_REQUIRED');
      // A name the route would refuse is not written to the audit log.
      assertError(await h.request('GET', `/admin/keys/${longName}`, { token: user }), 'ERR_ADMIN_REQUIRED');
      const [longRecord] = await auditRecords(h, { subject: 'plain-user' });
      assert.equal(longRecord?.action, 'admin.key.get');
      assert.equal(longRecord?.keyName, undefined);
    });

    it('an admin gets the validation answer', async () => {
      const answer = await h.request('PUT', '/admin/keys/x/policy', { ...bogusPolicy, token: admin });
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.equal(answer.json?.message, 'body.bogus is not allowed');
      assertError(
        await h.request('PUT', '/admin/keys/x/policy', { ...textBody, token: admin }),
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      );
    });
  });

  it('refuses key names that collide with routes', async () => {
    for (const name of ['keys', 'admin', 'healthz', 'metrics', 'Metrics', 'console']) {
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
    const queries = (await auditRecords(h, { identity: 'admin@example.test' })).filter(
      (r) => r.action === 'admin.audit.query',
    );
    assert.deepEqual(
      queries.map((r) => r.result),
      ['failed', 'allowed', 'ok', 'allowed'],
    );
    assert.equal((await verifyAudit(h)).ok, true);
  });

  describe('validates strictly: a wrong type is 400, never coerced', () => {
    before(async () => {
      const created = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name: 'strict', spec: 'P-256', cacheSeconds: 60, policy: { users: ['alice@example.test'] } },
      });
      assert.equal(created.status, 201, created.text);
    });
    const unchanged = async (): Promise<void> => {
      const key = await h.request('GET', '/admin/keys/strict', { token: admin });
      assert.equal(key.json?.state, 'enabled');
      assert.equal(key.json?.activeVersion, 1);
      assert.equal(key.json?.cacheSeconds, 60);
      assert.deepEqual(key.json?.policy, {
        users: ['alice@example.test'],
        groups: [],
        roles: [],
        tenants: [],
      });
    };
    const refused = async (method: string, urlPath: string, body: unknown, message: string) => {
      const answer = await h.request(method, urlPath, { token: admin, body });
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.equal(answer.json?.message, message, `${urlPath} ${JSON.stringify(body)}`);
    };

    it('policy lists', async () => {
      const url = '/admin/keys/strict/policy';
      await refused('PUT', url, { users: 'x' }, 'body.users must be array');
      await refused('PUT', url, { users: 5 }, 'body.users must be array');
      await refused('PUT', url, { users: null }, 'body.users must be array');
      await refused('PUT', url, { users: [5] }, 'body.users.0 must be string');
      await refused('PUT', url, { groups: [true] }, 'body.groups.0 must be string');
      await refused('PUT', url, { roles: [['admin']] }, 'body.roles.0 must be string');
      await refused('PUT', url, [{ users: [] }], 'body must be object');
      await unchanged();
    });

    it('numbers', async () => {
      const url = '/admin/keys/strict/cache';
      for (const cacheSeconds of ['60', '0', true, null, [60], 60.5]) {
        const answer = await h.request('PUT', url, { token: admin, body: { cacheSeconds } });
        assertError(answer, 'ERR_BAD_REQUEST');
        assert.equal(answer.json?.message, 'body.cacheSeconds must be integer', JSON.stringify(cacheSeconds));
      }
      await unchanged();
    });

    it('creating, rotating and destroying', async () => {
      await refused(
        'POST',
        '/admin/keys',
        { name: 'k9', protocol: ['native'] },
        'body.protocol must be equal to one of the allowed values',
      );
      await refused(
        'POST',
        '/admin/keys',
        { name: 'k9', spec: ['P-256'] },
        'body.spec must be equal to one of the allowed values',
      );
      await refused('POST', '/admin/keys', { name: ['k9'] }, 'body.name must be string');
      await refused('POST', '/admin/keys', { name: 9 }, 'body.name must be string');
      await refused(
        'POST',
        '/admin/keys',
        { name: 'k9', cacheSeconds: '60' },
        'body.cacheSeconds must be integer',
      );
      await refused(
        'POST',
        '/admin/keys',
        { name: 'k9', policy: { users: 'x' } },
        'body.policy.users must be array',
      );
      await refused(
        'POST',
        '/admin/keys',
        { name: 'k9', privateKeyPem: ['-----BEGIN'] },
        'body.privateKeyPem must be string',
      );
      assertError(await h.request('GET', '/admin/keys/k9', { token: admin }), 'ERR_KEY_NOT_FOUND');
      await refused(
        'POST',
        '/admin/keys/strict/rotate',
        { spec: ['P-256'] },
        'body.spec must be equal to one of the allowed values',
      );
      await refused('POST', '/admin/keys/strict/rotate', [], 'body must be object,null');
      await refused(
        'POST',
        '/admin/keys/strict/destroy',
        { confirm: ['strict'] },
        'body.confirm must be string',
      );
      await unchanged();
    });

    it('audit query parameters are parsed explicitly', async () => {
      const limited = await h.request('GET', '/admin/audit?limit=3', { token: admin });
      assert.equal(limited.status, 200, limited.text);
      assert.equal((limited.json?.records as unknown[]).length, 3);
      for (const query of [
        'limit=abc',
        'limit=0',
        'limit=1001',
        'limit=5.5',
        'limit=-1',
        'limit=',
        'limit=05',
        'limit=1e3',
        'key=a&key=b',
      ]) {
        assertError(await h.request('GET', `/admin/audit?${query}`, { token: admin }), 'ERR_BAD_REQUEST');
      }
      const most = await h.request('GET', '/admin/audit?limit=1000', { token: admin });
      assert.equal(most.status, 200, most.text);
      const events = await h.request('GET', '/admin/security-events?limit=5', { token: admin });
      assert.equal(events.status, 200, events.text);
      for (const query of ['limit=abc', 'limit=0', 'limit=10001', 'limit=5.0', 'limit=5&limit=6']) {
        assertError(
          await h.request('GET', `/admin/security-events?${query}`, { token: admin }),
          'ERR_BAD_REQUEST',
        );
      }
      assertError(await h.request('GET', '/admin/security-events?limit=x'), 'ERR_AUTH_MISSING');
    });
  });
});
