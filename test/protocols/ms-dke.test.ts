/**
 * Microsoft DKE over real HTTP (/work/shared/reference/ms-dke.md): the shared conformance vector through the
 * real server, an Office-like client (GET key → RSA-OAEP-256 locally → token from the real issuer → POST to
 * the published kid), and every error case of the reference.
 */
import assert from 'node:assert/strict';
import {
  constants,
  createPrivateKey,
  createPublicKey,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sharedDir } from '../support/paths.js';
import { requestToken, TEST_AUDIENCE, wrongAudienceToken } from '../support/issuer.js';
import { AUTHORITY, startHarness, type Harness, type HttpAnswer } from '../service/harness.js';
import { assertError, assertNoInternals } from '../service/assertions.js';
import { auditRecords } from '../service/audit-reader.js';

const VECTORS = path.join(sharedDir, 'vectors', 'ms-dke');
const vector = (file: string): string => readFileSync(path.join(VECTORS, file), 'utf8');
const ALICE = 'alice@example.test';
const OFFICE = { clientId: 'office-like', clientSecret: 'office-secret', claims: { upn: ALICE } };

interface PublishedKey {
  readonly key: { kty: string; n: string; e: number; alg: string; kid: string };
  readonly cache?: { exp: string };
}

/** The public key as Office builds it from the GET body. */
function publicKeyOf(body: PublishedKey): KeyObject {
  const e = Buffer.alloc(4);
  e.writeUInt32BE(body.key.e);
  return createPublicKey({
    key: {
      kty: 'RSA',
      n: Buffer.from(body.key.n, 'base64').toString('base64url'),
      e: e.subarray(e.findIndex((b) => b !== 0)).toString('base64url'),
    },
    format: 'jwk',
  });
}

function oaep256(key: KeyObject, plaintext: Buffer): string {
  return publicEncrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    plaintext,
  ).toString('base64');
}

describe('Microsoft DKE protocol', () => {
  let h: Harness;
  let admin: string;
  let alice: string;
  let vectorKid: string;

  async function createKey(body: Record<string, unknown>): Promise<void> {
    const answer = await h.request('POST', '/admin/keys', {
      token: admin,
      body: { protocol: 'ms-dke', ...body },
    });
    assert.equal(answer.status, 201, answer.text);
  }
  const getKey = async (name: string): Promise<PublishedKey> => {
    const answer = await h.request('GET', `/${name}`);
    assert.equal(answer.status, 200, answer.text);
    return answer.json as unknown as PublishedKey;
  };
  /** POSTs to a path relative to the server. */
  const decrypt = (urlPath: string, body: unknown, token?: string): Promise<HttpAnswer> =>
    h.request('POST', urlPath, { body, ...(token === undefined ? {} : { token }) });
  /** The path part of a published kid (what Office POSTs to, + /decrypt). */
  const kidPath = (kid: string): string => new URL(kid).pathname;

  before(async () => {
    h = await startHarness({ clients: [OFFICE] });
    admin = await h.adminToken();
    alice = await h.token({ upn: ALICE });
    await createKey({
      name: 'vector',
      privateKeyPem: vector('private_key.pkcs1.pem'),
      cacheSeconds: 86_400,
      policy: { users: [ALICE] },
    });
    vectorKid = (await getKey('vector')).key.kid;
  });
  after(() => h.close());

  describe('conformance vector', () => {
    it('GET publishes the same key as key.json, in the exact shape', async () => {
      const expected = JSON.parse(vector('key.json')) as PublishedKey;
      const body = await getKey('vector');
      assert.deepEqual(Object.keys(body), ['key', 'cache']);
      assert.deepEqual(Object.keys(body.key), ['kty', 'n', 'e', 'alg', 'kid']);
      assert.equal(body.key.kty, 'RSA');
      assert.equal(body.key.n, expected.key.n);
      assert.equal(body.key.e, expected.key.e);
      assert.equal(typeof body.key.e, 'number');
      assert.equal(body.key.alg, 'RS256');
      assert.equal(body.key.kid, `${h.server.url}/vector/${body.key.kid.split('/').pop()}`);
    });

    it('POST decrypt_request.json returns exactly decrypt_response.json', async () => {
      const answer = await decrypt(
        `${kidPath(vectorKid)}/decrypt`,
        JSON.parse(vector('decrypt_request.json')),
        alice,
      );
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, JSON.parse(vector('decrypt_response.json')));
    });
  });

  describe('Office-like client', () => {
    let token: string;
    before(async () => {
      const issued = await requestToken(h.issuer, {
        clientId: OFFICE.clientId,
        clientSecret: OFFICE.clientSecret,
      });
      assert.equal(issued.status, 200);
      token = issued.body.access_token as string;
      await createKey({ name: 'contoso', policy: { users: [ALICE] } });
    });

    /** Office: GET the key, encrypt a content key locally, later POST it to `<kid>/decrypt`. */
    async function roundTrip(kid: string, publicKey: KeyObject, suffix = '/decrypt'): Promise<void> {
      const secret = randomBytes(32);
      const answer = await decrypt(
        `${kidPath(kid)}${suffix}`,
        { alg: 'RSA-OAEP-256', value: oaep256(publicKey, secret) },
        token,
      );
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, { value: secret.toString('base64') });
    }

    it('round trip with the published key, audited with identity and key version', async () => {
      const published = await getKey('contoso');
      assert.equal(published.cache, undefined, 'no cache period configured: no cache member');
      await roundTrip(published.key.kid, publicKeyOf(published));
      const [record] = await auditRecords(h, { keyName: 'contoso' });
      assert.equal(record?.action, 'ms-dke.decrypt');
      assert.equal(record?.result, 'allowed');
      assert.equal(record?.userName, ALICE);
      assert.equal(record?.subject, OFFICE.clientId);
      assert.equal(record?.keyVersion, 1);
      assert.equal(record?.keyId, published.key.kid.split('/').pop());
    });

    it('`/Decrypt` capitalised and an unknown query string work', async () => {
      const published = await getKey('contoso');
      await roundTrip(published.key.kid, publicKeyOf(published), '/Decrypt');
      await roundTrip(published.key.kid, publicKeyOf(published), '/decrypt?protocol-version=2&x=1');
    });

    it('after rotation: GET publishes the new key id, the old key id still decrypts', async () => {
      const old = await getKey('contoso');
      const rotated = await h.request('POST', '/admin/keys/contoso/rotate', { token: admin });
      assert.equal(rotated.status, 200, rotated.text);
      const fresh = await getKey('contoso');
      assert.notEqual(fresh.key.kid, old.key.kid);
      assert.notEqual(fresh.key.n, old.key.n);
      await roundTrip(old.key.kid, publicKeyOf(old));
      await roundTrip(fresh.key.kid, publicKeyOf(fresh));
      const versions = (await auditRecords(h, { keyName: 'contoso' })).slice(0, 2).map((r) => r.keyVersion);
      assert.deepEqual(versions, [2, 1]);
    });
  });

  describe('key id URL and cache', () => {
    it('a trailing slash and a query string do not change the kid', async () => {
      const plain = await h.request('GET', '/vector');
      const slashed = await h.request('GET', '/vector/?protocol-version=2');
      assert.equal(
        (slashed.json as unknown as PublishedKey).key.kid,
        (plain.json as unknown as PublishedKey).key.kid,
      );
      assert.doesNotMatch(vectorKid, /\/\/vector|\?/);
    });

    it('forwarded headers are ignored from untrusted addresses', async () => {
      const answer = await h.request('GET', '/vector', {
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
      });
      assert.ok((answer.json as unknown as PublishedKey).key.kid.startsWith(`${h.server.url}/vector/`));
    });

    it('cache.exp is now + the key cache period, yyyy-MM-ddTHH:mm:ss UTC', async () => {
      const body = await getKey('vector');
      assert.match(body.cache?.exp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
      const exp = Date.parse(`${body.cache?.exp}Z`);
      assert.ok(Math.abs(exp - (Date.now() + 86_400_000)) < 10_000, `exp ${body.cache?.exp}`);
    });
  });

  describe('errors, in the reference order', () => {
    const request = (): unknown => JSON.parse(vector('decrypt_request.json'));
    let keyId: string;
    before(() => {
      keyId = vectorKid.split('/').pop() ?? '';
    });

    it('unknown key name or key id: 400 small JSON, before authentication', async () => {
      assertError(await h.request('GET', '/nosuchkey'), 'ERR_KEY_NOT_FOUND', 400);
      assertError(await decrypt(`/nosuchkey/${keyId}/decrypt`, request()), 'ERR_KEY_NOT_FOUND', 400);
      assertError(
        await decrypt('/vector/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/decrypt', request()),
        'ERR_KEY_NOT_FOUND',
        400,
      );
      assertError(
        await decrypt(`/vector/${keyId}/decrypt`.replace('vector', 'Vector'), request(), alice),
        'ERR_KEY_NOT_FOUND',
        400,
      );
    });

    it('a native key is not an MS DKE key', async () => {
      const created = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name: 'nativekey', spec: 'P-256' },
      });
      assert.equal(created.status, 201);
      assertError(await h.request('GET', '/nativekey'), 'ERR_KEY_NOT_FOUND', 400);
    });

    it('no token: 401 with the challenge Office needs, no error parameter', async () => {
      const answer = await decrypt(`/vector/${keyId}/decrypt`, request());
      assertError(answer, 'ERR_AUTH_MISSING', 401);
      assert.equal(
        answer.headers.get('www-authenticate'),
        `Bearer resource="${TEST_AUDIENCE}", authorization="${AUTHORITY}", realm="${TEST_AUDIENCE}"`,
      );
      assert.equal(answer.headers.get('resource'), TEST_AUDIENCE);
      assert.equal(answer.headers.get('authorization'), AUTHORITY);
    });

    it('an invalid token: 401 with error="invalid_token"', async () => {
      for (const token of ['garbage', await wrongAudienceToken(h.issuer, { upn: ALICE })]) {
        const answer = await decrypt(`/vector/${keyId}/decrypt`, request(), token);
        assertError(answer, 'ERR_AUTH_INVALID', 401);
        assert.equal(
          answer.headers.get('www-authenticate'),
          `Bearer resource="${TEST_AUDIENCE}", authorization="${AUTHORITY}", realm="${TEST_AUDIENCE}", error="invalid_token"`,
        );
        assertNoInternals(answer.text, [token]);
      }
    });

    it('authentication comes before the alg check', async () => {
      assertError(
        await decrypt(`/vector/${keyId}/decrypt`, { alg: 'RSA1_5', value: 'AA==' }),
        'ERR_AUTH_MISSING',
        401,
      );
    });

    it('an authenticated user outside the policy: 403 with an empty body, audited', async () => {
      const answer = await decrypt(
        `/vector/${keyId}/decrypt`,
        request(),
        await h.token({ sub: 'bob', upn: 'bob@example.test' }),
      );
      assert.equal(answer.status, 403);
      assert.equal(answer.text, '');
      const [record] = await auditRecords(h, { subject: 'bob' });
      assert.equal(record?.action, 'ms-dke.decrypt');
      assert.equal(record?.result, 'denied');
      assert.equal(record?.reason, 'ERR_FORBIDDEN');
    });

    it('a token without upn/email: 400', async () => {
      const answer = await decrypt(`/vector/${keyId}/decrypt`, request(), await h.token({ sub: 'nameless' }));
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.equal(answer.json?.message, 'token has no upn or email claim');
    });

    it('alg other than exactly RSA-OAEP-256: 400', async () => {
      for (const alg of ['RSA-OAEP', 'rsa-oaep-256', 'RSA1_5', undefined]) {
        const answer = await decrypt(`/vector/${keyId}/decrypt`, { ...(request() as object), alg }, alice);
        assertError(answer, 'ERR_BAD_REQUEST');
        assert.equal(answer.json?.message, 'alg must be RSA-OAEP-256');
      }
    });

    it('bad base64 or a ciphertext that does not decrypt: 400 small JSON, no exception text', async () => {
      for (const value of ['not base64!', 'QUJD=', 'QUJD\n', '', undefined]) {
        const answer = await decrypt(`/vector/${keyId}/decrypt`, { alg: 'RSA-OAEP-256', value }, alice);
        assertError(answer, 'ERR_BAD_REQUEST');
        assert.equal(answer.json?.message, 'value must be standard base64');
      }
      for (const value of ['QUJD', randomBytes(256).toString('base64')]) {
        const answer = await decrypt(`/vector/${keyId}/decrypt`, { alg: 'RSA-OAEP-256', value }, alice);
        assertError(answer, 'ERR_DECRYPTION_FAILED');
      }
      const [record] = await auditRecords(h, { keyName: 'vector' });
      assert.equal(record?.result, 'failed');
      assert.equal(record?.reason, 'ERR_DECRYPTION_FAILED');
    });

    it('wrong types are refused, never coerced: 400, nothing decrypted or audited', async () => {
      const { alg, value } = request() as { alg: string; value: string };
      const before = (await auditRecords(h, { keyName: 'vector' })).length;
      const cases: [unknown, string][] = [
        [{ alg: [alg], value }, 'body.alg must be string'],
        [{ alg, value: [value] }, 'body.value must be string'],
        [{ alg: 256, value }, 'body.alg must be string'],
        [{ alg, value: null }, 'body.value must be string'],
        [{ alg, value: false }, 'body.value must be string'],
        [[{ alg, value }], 'body must be object'],
      ];
      for (const [body, message] of cases) {
        const answer = await decrypt(`/vector/${keyId}/decrypt`, body, alice);
        assertError(answer, 'ERR_BAD_REQUEST');
        assert.equal(answer.json?.message, message, JSON.stringify(body));
      }
      assert.equal((await auditRecords(h, { keyName: 'vector' })).length, before);
    });

    it('a key without policy refuses everyone, admins included', async () => {
      await createKey({ name: 'unguarded' });
      const published = await getKey('unguarded');
      const value = oaep256(publicKeyOf(published), randomBytes(32));
      for (const token of [alice, admin]) {
        const answer = await decrypt(
          `${kidPath(published.key.kid)}/decrypt`,
          { alg: 'RSA-OAEP-256', value },
          token,
        );
        assert.equal(answer.status, 403);
        assert.equal(answer.text, '');
      }
    });

    it('disabled key: 403; destroyed key: 400', async () => {
      await createKey({ name: 'lifecycle', policy: { users: [ALICE] } });
      const published = await getKey('lifecycle');
      const body = { alg: 'RSA-OAEP-256', value: oaep256(publicKeyOf(published), randomBytes(32)) };
      const url = `${kidPath(published.key.kid)}/decrypt`;
      await h.request('POST', '/admin/keys/lifecycle/disable', { token: admin });
      const disabled = await decrypt(url, body, alice);
      assert.equal(disabled.status, 403);
      assert.equal(disabled.text, '');
      await h.request('POST', '/admin/keys/lifecycle/destroy', {
        token: admin,
        body: { confirm: 'lifecycle' },
      });
      assertError(await decrypt(url, body, alice), 'ERR_KEY_DESTROYED', 400);
      assertError(await h.request('GET', '/lifecycle'), 'ERR_KEY_DESTROYED', 400);
    });

    it('GET never asks for authentication; other operations are not routes', async () => {
      const answer = await h.request('GET', '/vector', { token: 'garbage' });
      assert.equal(answer.status, 200);
      assertError(await decrypt(`/vector/${keyId}/encrypt`, request(), alice), 'ERR_NOT_FOUND');
    });
  });
});

describe('Microsoft DKE behind a proxy', () => {
  it('publicBaseUrl from the config makes the kid (trailing slashes normalised); PKCS#8 import', async () => {
    const h = await startHarness({ server: { publicBaseUrl: 'https://dke.example.test/' } });
    try {
      const admin = await h.adminToken();
      const pkcs8 = createPrivateKey(vector('private_key.pkcs1.pem'))
        .export({ type: 'pkcs8', format: 'pem' })
        .toString();
      const created = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name: 'label', protocol: 'ms-dke', privateKeyPem: pkcs8 },
      });
      assert.equal(created.status, 201);
      const keyId = (created.json?.versions as { keyId: string }[])[0]?.keyId;
      const answer = await h.request('GET', '/label/', { headers: { 'x-forwarded-host': 'evil.example' } });
      const key = answer.json?.key as { kid: string; n: string };
      assert.equal(key.kid, `https://dke.example.test/label/${keyId}`);
      assert.equal(key.n, (JSON.parse(vector('key.json')) as PublishedKey).key.n);
      // The test audience (api://…) is not the public https URL: the operator is told at start-up.
      assert.ok(
        h.logs.some((line) => line.includes('auth.audience is not an https URL on the publicBaseUrl host')),
      );
    } finally {
      await h.close();
    }
  });

  it('X-Forwarded-Proto/Host are used only from a trusted proxy', async () => {
    const h = await startHarness({ server: { trustedProxies: ['127.0.0.1'] } });
    try {
      const admin = await h.adminToken();
      await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name: 'label', protocol: 'ms-dke', privateKeyPem: vector('private_key.pkcs1.pem') },
      });
      const answer = await h.request('GET', '/label', {
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'dke.contoso.test' },
      });
      assert.match(
        (answer.json?.key as { kid: string }).kid,
        /^https:\/\/dke\.contoso\.test\/label\/[\w-]{43}$/,
      );
    } finally {
      await h.close();
    }
  });
});
