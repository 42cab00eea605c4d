/**
 * The native protocol over real HTTP: a real server (startServer) on a temp SQLite store, tokens from a real
 * development OIDC issuer, keys created through the real admin API.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CompactEncrypt, type JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { startHarness, type Harness } from '../service/harness.js';
import { assertError, assertNoInternals } from '../service/assertions.js';
import { auditRecords, verifyAudit } from '../service/audit-reader.js';
import {
  expiredToken,
  hs256WithPublicKeyToken,
  noneAlgToken,
  notYetValidToken,
  unknownKidToken,
  wrongAudienceToken,
  wrongIssuerToken,
} from '../support/issuer.js';

const ALICE = 'alice@example.test';

interface Wrapped {
  readonly share: Buffer;
  readonly objectId: string;
  readonly stanza: string;
}

describe('native protocol', () => {
  let h: Harness;
  let admin: string;
  let alice: string;

  async function createKey(
    name: string,
    policy: Record<string, string[]> = { users: [ALICE] },
  ): Promise<void> {
    const answer = await h.request('POST', '/admin/keys', {
      token: admin,
      body: { name, spec: 'P-256', policy },
    });
    assert.equal(answer.status, 201, answer.text);
  }

  /** What a client does: fetch the public key, wrap a fresh share to it for a fresh object. */
  async function wrapFor(name: string): Promise<Wrapped> {
    const published = await h.request('GET', `/keys/${name}`);
    assert.equal(published.status, 200, published.text);
    const share = randomBytes(32);
    const objectId = randomBytes(16);
    const stanza = await wrapShare(share, publicKeyFromJwk(published.json?.jwk as JWK), {
      objectId,
      keyId: published.json?.keyId as string,
    });
    return { share, objectId: objectId.toString('base64url'), stanza };
  }

  const unwrap = (name: string, stanza: string, token?: string) =>
    h.request('POST', `/keys/${name}/unwrap`, {
      body: { stanza },
      ...(token === undefined ? {} : { token }),
    });

  before(async () => {
    h = await startHarness();
    admin = await h.adminToken();
    alice = await h.token({ upn: ALICE });
    await createKey('docs');
  });
  after(() => h.close());

  it('publishes the active public key and unwraps a share for an allowed user, audited', async () => {
    const published = await h.request('GET', '/keys/docs');
    assert.deepEqual(Object.keys(published.json ?? {}).sort(), ['alg', 'jwk', 'keyId', 'name', 'version']);
    assert.equal(published.json?.alg, 'ECDH-ES+A256KW');
    assert.equal(published.json?.version, 1);
    assert.equal((published.json?.jwk as JWK).d, undefined, 'no private member');

    const w = await wrapFor('docs');
    const answer = await unwrap('docs', w.stanza, alice);
    assert.equal(answer.status, 200, answer.text);
    const { receipt, ...released } = answer.json ?? {};
    assert.deepEqual(released, {
      share: w.share.toString('base64url'),
      keyId: published.json?.keyId,
      version: 1,
      objectId: w.objectId,
    });
    assert.match(receipt as string, /^c2sp\.org\/tlog-proof@v1\n/, 'receipts are on by default');
    const [record] = await auditRecords(h, { objectId: w.objectId });
    assert.equal(record?.action, 'native.unwrap');
    assert.equal(record?.result, 'allowed');
    assert.equal(record?.userName, ALICE);
    assert.equal(record?.keyName, 'docs');
    assert.equal(record?.keyVersion, 1);
  });

  describe('refuses bad tokens with 401, a challenge, small JSON and no audit record', () => {
    const cases: [string, () => Promise<string | undefined> | string | undefined, string][] = [
      ['missing', () => undefined, 'ERR_AUTH_MISSING'],
      ['garbled', () => 'not.a.jwt', 'ERR_AUTH_INVALID'],
      ['expired', () => expiredToken(h.issuer, { upn: ALICE }), 'ERR_AUTH_INVALID'],
      ['not yet valid', () => notYetValidToken(h.issuer, { upn: ALICE }), 'ERR_AUTH_INVALID'],
      ['wrong audience', () => wrongAudienceToken(h.issuer, { upn: ALICE }), 'ERR_AUTH_INVALID'],
      [
        'wrong issuer',
        () => wrongIssuerToken(h.issuer, 'https://evil.example', { upn: ALICE }),
        'ERR_AUTH_INVALID',
      ],
      ['alg none', () => noneAlgToken(h.issuer, { upn: ALICE }), 'ERR_AUTH_INVALID'],
      [
        'HS256 keyed with the public key',
        () => hs256WithPublicKeyToken(h.issuer, { upn: ALICE }),
        'ERR_AUTH_INVALID',
      ],
      ['unknown kid', () => unknownKidToken(h.issuer, { upn: ALICE }), 'ERR_AUTH_INVALID'],
    ];
    for (const [label, makeToken, code] of cases) {
      it(label, async () => {
        const w = await wrapFor('docs');
        const token = await makeToken();
        const answer = await unwrap('docs', w.stanza, token);
        assertError(answer, code as 'ERR_AUTH_INVALID');
        const challenge = answer.headers.get('www-authenticate') ?? '';
        assert.match(challenge, /^Bearer /);
        assert.equal(challenge.includes('error="invalid_token"'), code === 'ERR_AUTH_INVALID');
        if (token !== undefined) assertNoInternals(answer.text, [token]);
        assert.equal((await auditRecords(h, { objectId: w.objectId })).length, 0);
      });
    }
  });

  it('refuses an authenticated user the policy does not name: 403, audited as denied', async () => {
    const w = await wrapFor('docs');
    const answer = await unwrap(
      'docs',
      w.stanza,
      await h.token({ sub: 'mallory', upn: 'mallory@example.test' }),
    );
    assertError(answer, 'ERR_FORBIDDEN');
    const records = await auditRecords(h, { objectId: w.objectId });
    assert.equal(records.length, 1);
    assert.equal(records[0]?.result, 'denied');
    assert.equal(records[0]?.reason, 'ERR_FORBIDDEN');
    assert.equal(records[0]?.subject, 'mallory');
  });

  it('a key without policy refuses everyone', async () => {
    await createKey('nopolicy', {});
    const w = await wrapFor('nopolicy');
    assertError(await unwrap('nopolicy', w.stanza, alice), 'ERR_FORBIDDEN');
  });

  describe('bodies', () => {
    it('oversized: 413', async () => {
      const answer = await h.request('POST', '/keys/docs/unwrap', {
        rawBody: JSON.stringify({ stanza: 'x'.repeat(70 * 1024) }),
        headers: { 'content-type': 'application/json' },
        token: alice,
      });
      assertError(answer, 'ERR_PAYLOAD_TOO_LARGE');
    });
    it('malformed JSON: 400', async () => {
      const answer = await h.request('POST', '/keys/docs/unwrap', {
        rawBody: '{"stanza": ',
        headers: { 'content-type': 'application/json' },
        token: alice,
      });
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.equal(answer.json?.message, 'request body is not valid JSON');
    });
    it('not JSON: 415', async () => {
      const answer = await h.request('POST', '/keys/docs/unwrap', {
        rawBody: 'stanza',
        headers: { 'content-type': 'text/plain' },
        token: alice,
      });
      assertError(answer, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    });
    it('missing or extra fields: 400 naming the field', async () => {
      const missing = await h.request('POST', '/keys/docs/unwrap', { body: {}, token: alice });
      assertError(missing, 'ERR_BAD_REQUEST');
      assert.equal(missing.json?.message, 'body.stanza is required');
      const extra = await h.request('POST', '/keys/docs/unwrap', {
        body: { stanza: 'a', more: 1 },
        token: alice,
      });
      assertError(extra, 'ERR_BAD_REQUEST');
      assert.equal(extra.json?.message, 'body.more is not allowed');
    });
    it('wrong types are refused, never coerced: 400 before any binding check, nothing unwrapped', async () => {
      const w = await wrapFor('docs');
      const cases: [unknown, string][] = [
        [{ stanza: [w.stanza] }, 'body.stanza must be string'],
        [{ stanza: 12345 }, 'body.stanza must be string'],
        [{ stanza: true }, 'body.stanza must be string'],
        [{ stanza: null }, 'body.stanza must be string'],
        [{ stanza: { jwe: w.stanza } }, 'body.stanza must be string'],
        [[{ stanza: w.stanza }], 'body must be object'],
        [w.stanza, 'body must be object'],
      ];
      for (const [body, message] of cases) {
        const answer = await h.request('POST', '/keys/docs/unwrap', { body, token: alice });
        assertError(answer, 'ERR_BAD_REQUEST');
        assert.equal(answer.json?.message, message, JSON.stringify(body));
      }
      assert.equal((await auditRecords(h, { objectId: w.objectId })).length, 0, 'nothing was unwrapped');
    });
    it('a stanza that is not a share JWE: 400', async () => {
      assertError(await unwrap('docs', 'a.b.c.d.e', alice), 'ERR_HOLDER_BINDING_MISMATCH');
    });
    it('a share JWE with zip or a repeated header member is refused before decrypting: 400', async () => {
      const published = await h.request('GET', '/keys/docs');
      const objectId = randomBytes(16).toString('base64url');
      const header = {
        alg: 'ECDH-ES+A256KW',
        enc: 'A256GCM',
        typ: 'opendke-share',
        kid: published.json?.keyId as string,
        oid: objectId,
      };
      // A correct JWE to the service's key whose 32-byte share jose compressed: it would decrypt and inflate.
      const zipped = await new CompactEncrypt(randomBytes(32))
        .setProtectedHeader({ ...header, zip: 'DEF' })
        .encrypt(publicKeyFromJwk(published.json?.jwk as JWK));
      const zipAnswer = await unwrap('docs', zipped, alice);
      assertError(zipAnswer, 'ERR_HOLDER_BINDING_MISMATCH');
      // Two "oid" members: a parser that keeps the first would audit another object than one keeping the last.
      const w = await wrapFor('docs');
      const [encoded, ...rest] = w.stanza.split('.');
      const text = Buffer.from(encoded ?? '', 'base64url').toString('utf8');
      const repeated = text.replace('{', `{"oid":"${randomBytes(16).toString('base64url')}",`);
      const duplicate = [Buffer.from(repeated).toString('base64url'), ...rest].join('.');
      assertError(await unwrap('docs', duplicate, alice), 'ERR_HOLDER_BINDING_MISMATCH');
      // Refused before the key was used: nothing about either object reached the audit log.
      assert.deepEqual(await auditRecords(h, { objectId }), []);
      assert.deepEqual(await auditRecords(h, { objectId: w.objectId }), []);
    });
    it('a stanza whose header was altered does not unwrap: 400, audited as failed', async () => {
      const w = await wrapFor('docs');
      const [header, ...rest] = w.stanza.split('.');
      const fields = JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
      const forgedOid = randomBytes(16).toString('base64url');
      const forged = [
        Buffer.from(JSON.stringify({ ...fields, oid: forgedOid })).toString('base64url'),
        ...rest,
      ].join('.');
      const answer = await unwrap('docs', forged, alice);
      assertError(answer, 'ERR_HOLDER_UNWRAP_FAILED');
      assertNoInternals(answer.text, [w.share.toString('base64url')]);
      const [record] = await auditRecords(h, { objectId: forgedOid });
      assert.equal(record?.result, 'failed');
      assert.equal(record?.reason, 'ERR_HOLDER_UNWRAP_FAILED');
    });
  });

  describe('key states', () => {
    it('unknown key: 404 on GET and unwrap', async () => {
      assertError(await h.request('GET', '/keys/nosuchkey'), 'ERR_KEY_NOT_FOUND');
      const w = await wrapFor('docs');
      assertError(await unwrap('nosuchkey', w.stanza, alice), 'ERR_KEY_NOT_FOUND');
    });

    it('an MS DKE key is not served by the native routes', async () => {
      const created = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name: 'office', protocol: 'ms-dke' },
      });
      assert.equal(created.status, 201, created.text);
      assertError(await h.request('GET', '/keys/office'), 'ERR_KEY_NOT_FOUND');
    });

    it('disabled (by the CLI beside the running server): 403 everywhere, audited; enabled again works', async () => {
      await createKey('paused');
      const w = await wrapFor('paused');
      const store = await h.openStore();
      try {
        await store.keys.disable('paused');
        assertError(await h.request('GET', '/keys/paused'), 'ERR_KEY_DISABLED');
        assertError(await unwrap('paused', w.stanza, alice), 'ERR_KEY_DISABLED');
        assert.equal((await auditRecords(h, { objectId: w.objectId }))[0]?.reason, 'ERR_KEY_DISABLED');
        await store.keys.enable('paused');
      } finally {
        await store.close();
      }
      assert.equal((await unwrap('paused', w.stanza, alice)).status, 200);
    });

    it('destroyed: 410, the share is gone for good', async () => {
      await createKey('shredded');
      const w = await wrapFor('shredded');
      const destroyed = await h.request('POST', '/admin/keys/shredded/destroy', {
        token: admin,
        body: { confirm: 'shredded' },
      });
      assert.equal(destroyed.status, 200, destroyed.text);
      assertError(await h.request('GET', '/keys/shredded'), 'ERR_KEY_DESTROYED');
      assertError(await unwrap('shredded', w.stanza, alice), 'ERR_KEY_DESTROYED');
    });

    it('rotation: new files use the new version, old stanzas still unwrap', async () => {
      await createKey('rolling');
      const old = await wrapFor('rolling');
      const rotated = await h.request('POST', '/admin/keys/rolling/rotate', { token: admin });
      assert.equal(rotated.status, 200, rotated.text);
      const fresh = await wrapFor('rolling');
      const a = await unwrap('rolling', old.stanza, alice);
      const b = await unwrap('rolling', fresh.stanza, alice);
      assert.equal(a.json?.version, 1);
      assert.equal(b.json?.version, 2);
      assert.equal(a.json?.share, old.share.toString('base64url'));
      assert.equal(b.json?.share, fresh.share.toString('base64url'));
    });
  });

  it('a revoked object is refused (403, audited); other objects and unrevoking work', async () => {
    const w = await wrapFor('docs');
    const other = await wrapFor('docs');
    const revoked = await h.request('PUT', `/admin/keys/docs/revocations/${w.objectId}`, { token: admin });
    assert.deepEqual(revoked.json, { objectId: w.objectId, revoked: true, changed: true });
    assertError(await unwrap('docs', w.stanza, alice), 'ERR_OBJECT_REVOKED');
    assert.equal((await unwrap('docs', other.stanza, alice)).status, 200);
    const denied = (await auditRecords(h, { objectId: w.objectId })).find(
      (r) => r.action === 'native.unwrap',
    );
    assert.equal(denied?.reason, 'ERR_OBJECT_REVOKED');
    await h.request('DELETE', `/admin/keys/docs/revocations/${w.objectId}`, { token: admin });
    assert.equal((await unwrap('docs', w.stanza, alice)).status, 200);
  });

  it('never logs tokens, stanzas or shares', async () => {
    const w = await wrapFor('docs');
    const answer = await unwrap('docs', w.stanza, alice);
    assert.equal(answer.status, 200);
    const logs = h.logs.join('');
    assert.ok(logs.includes('"path":"/keys/docs/unwrap"'), 'requests are logged');
    for (const secret of [alice, admin, w.stanza, answer.json?.share as string]) {
      assert.ok(!logs.includes(secret), 'a secret reached the log');
    }
  });

  it('a restart loses nothing: keys, policy, revocations, audit chain', async () => {
    const w = await wrapFor('docs');
    const revokedObject = await wrapFor('docs');
    await h.request('PUT', `/admin/keys/docs/revocations/${revokedObject.objectId}`, { token: admin });
    const before = (await auditRecords(h)).length;
    await h.restart();
    const answer = await unwrap('docs', w.stanza, alice);
    assert.equal(answer.json?.share, w.share.toString('base64url'));
    assertError(await unwrap('docs', revokedObject.stanza, alice), 'ERR_OBJECT_REVOKED');
    assertError(
      await unwrap('docs', w.stanza, await h.token({ sub: 'mallory', upn: 'mallory@example.test' })),
      'ERR_FORBIDDEN',
    );
    assert.equal((await auditRecords(h)).length, before + 3);
    assert.deepEqual(await verifyAudit(h), { ...(await verifyAudit(h)), ok: true });
  });
});
