/** The development issuer: loopback only, discovery, JWKS, and the client-credentials token endpoint (authorization code: devissuer-code.test.ts). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator } from '../../src/auth/index.js';
import { startDevIssuer, type DevIssuer } from '../../src/devissuer/index.js';
import { isDkeError } from '../../src/errors/index.js';
import {
  authConfigFor,
  bearer,
  issuerConfigFor,
  TEST_CLAIMS,
  requestToken,
  startTestIssuer,
  TEST_AUDIENCE,
} from '../support/issuer.js';

const ALICE = {
  clientId: 'alice-app',
  clientSecret: 's3cret:with/odd+chars%',
  claims: { sub: 'alice', upn: 'alice@dev.example', groups: ['dke-users'], roles: ['DKE.Admin'] },
};
const SERVICE = { clientId: 'svc', clientSecret: 'svc-secret', audience: 'api://svc-default' };

let iss: DevIssuer;
before(async () => {
  iss = await startTestIssuer({ clients: [ALICE, SERVICE] });
});
after(() => iss.close());

test('refuses to bind anything but loopback', async () => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'localhost', 'example.com']) {
    const outcome = await startDevIssuer({ host }).then(
      async (started) => {
        await started.close();
        return 'started';
      },
      (e: unknown) => e,
    );
    assert.ok(isDkeError(outcome, 'ERR_CONFIG_INVALID'), `${host}: ${String(outcome)}`);
  }
  const other = await startDevIssuer({ host: '127.0.0.2' }).catch(() => undefined);
  // 127.0.0.2 is loopback; where the OS supports binding it, the issuer starts.
  if (other) {
    assert.match(other.issuer, /^http:\/\/127\.0\.0\.2:\d+$/);
    await other.close();
  }
});

test('discovery document and JWKS', async () => {
  const doc = (await (await fetch(`${iss.issuer}/.well-known/openid-configuration`)).json()) as Record<
    string,
    unknown
  >;
  assert.equal(doc.issuer, iss.issuer);
  assert.equal(doc.jwks_uri, iss.jwksUri);
  assert.equal(doc.token_endpoint, iss.tokenEndpoint);
  assert.deepEqual(doc.grant_types_supported, ['client_credentials', 'authorization_code']);
  assert.equal(doc.authorization_endpoint, iss.authorizationEndpoint);
  assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
  const jwks = (await (await fetch(iss.jwksUri)).json()) as { keys: Record<string, unknown>[] };
  assert.equal(jwks.keys.length, 1);
  assert.equal(jwks.keys[0]?.kid, iss.kid);
  assert.equal(jwks.keys[0]?.d, undefined, 'no private part published');
  assert.equal((await fetch(`${iss.issuer}/nope`)).status, 404);
});

test('client_secret_basic: the token carries the client claims and the requested audience', async () => {
  const { status, body } = await requestToken(iss, { ...ALICE, audience: TEST_AUDIENCE });
  assert.equal(status, 200);
  assert.equal(body.token_type, 'Bearer');
  assert.equal(typeof body.expires_in, 'number');
  const auth = createAuthenticator(
    authConfigFor([issuerConfigFor(iss, { ...TEST_CLAIMS, adminRoles: ['DKE.Admin'] })]),
  );
  const p = await auth.authenticate(bearer(String(body.access_token)));
  assert.equal(p.subject, 'alice');
  assert.equal(p.userName, 'alice@dev.example');
  assert.deepEqual(p.groups, ['dke-users']);
  assert.equal(p.isAdmin, true);
});

test('client_secret_post and the resource parameter', async () => {
  const { status, body } = await requestToken(iss, {
    ...ALICE,
    method: 'post',
    extra: { resource: 'api://other' },
  });
  assert.equal(status, 200);
  const [, payload] = String(body.access_token).split('.');
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
  assert.equal(claims.aud, 'api://other');
  assert.equal(claims.iss, iss.issuer);
  assert.equal(claims.azp, 'alice-app');
});

test('audience defaults to the client default, then the issuer default', async () => {
  const decode = (t: unknown): Record<string, unknown> =>
    JSON.parse(Buffer.from(String(t).split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
  const svc = await requestToken(iss, SERVICE);
  assert.equal(decode(svc.body.access_token).aud, 'api://svc-default');
  assert.equal(decode(svc.body.access_token).sub, 'svc');
  const alice = await requestToken(iss, ALICE);
  assert.equal(decode(alice.body.access_token).aud, TEST_AUDIENCE);
});

test('token endpoint errors', async () => {
  const bad = await requestToken(iss, { ...ALICE, clientSecret: 'wrong' });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error, 'invalid_client');
  assert.equal((await requestToken(iss, { clientId: 'nobody', clientSecret: 'x' })).status, 401);
  const grant = await requestToken(iss, { ...ALICE, extra: { grant_type: 'password' } });
  assert.equal(grant.body.error, 'unsupported_grant_type');
  const both = await requestToken(iss, { ...ALICE, extra: { client_secret: ALICE.clientSecret } });
  assert.equal(both.status, 400);
  assert.equal(both.body.error, 'invalid_request');

  const none = await fetch(iss.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  assert.equal(none.status, 401);
  const json = await fetch(iss.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(json.status, 400);
  assert.equal((await fetch(iss.tokenEndpoint)).status, 405);
  const dup = await fetch(iss.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=svc&client_secret=svc-secret&audience=a&audience=b',
  });
  assert.equal(dup.status, 400);
});

test('rotateKey publishes the new key next to the old one unless dropped', async () => {
  const rotating = await startTestIssuer();
  try {
    const first = rotating.kid;
    const second = await rotating.rotateKey();
    assert.equal(rotating.kid, second);
    assert.deepEqual(
      rotating.publicJwks().keys.map((k) => k.kid),
      [second, first],
    );
    await rotating.rotateKey({ dropPrevious: true });
    assert.equal(rotating.publicJwks().keys.length, 1);
  } finally {
    await rotating.close();
  }
});
