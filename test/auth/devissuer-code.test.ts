/**
 * The development issuer's authorization code + PKCE flow, driven by openid-client as a real relying party:
 * login form, one-time codes bound to client, redirect URI and verifier, id_token with the nonce, and every
 * way the flow must be refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createAuthenticator } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { authConfigFor, bearer, issuerConfigFor, startTestIssuer, TEST_AUDIENCE } from '../support/issuer.js';
import { hiddenFields, loginRedirect, submitLogin } from '../support/dev-login.js';

const REDIRECT = 'http://127.0.0.1:1/callback';
const ALICE = { username: 'alice', password: 'alice-pass', claims: { roles: ['opendke-admin'] } };
const PUBLIC = { clientId: 'console', redirectUris: [REDIRECT] };
const CONFIDENTIAL = { clientId: 'web', clientSecret: 'web-secret', redirectUris: [REDIRECT] };

let iss: DevIssuer;
let config: oidc.Configuration;
before(async () => {
  iss = await startTestIssuer({ clients: [PUBLIC, CONFIDENTIAL], users: [ALICE] });
  config = await oidc.discovery(new URL(iss.issuer), PUBLIC.clientId, undefined, oidc.None(), {
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
});
after(() => iss.close());

interface Started {
  readonly url: URL;
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
}

async function start(extra: Record<string, string> = {}): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

async function tokenCall(form: Record<string, string>): Promise<{ status: number; error: unknown }> {
  const answer = await fetch(iss.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: answer.status, error: ((await answer.json()) as { error?: unknown }).error };
}

test('discovery advertises the code flow with S256 PKCE', () => {
  const meta = config.serverMetadata();
  assert.equal(meta.authorization_endpoint, iss.authorizationEndpoint);
  assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
  assert.ok(meta.grant_types_supported?.includes('authorization_code'));
});

test('sign-in: the code exchanges once for an id_token with nonce, claims and a verified signature', async () => {
  const flow = await start();
  const callback = await loginRedirect(flow.url, 'alice', 'alice-pass');
  assert.equal(callback.searchParams.get('state'), flow.state);
  assert.equal(callback.searchParams.get('iss'), iss.issuer);
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims?.sub, 'alice');
  assert.equal(claims?.aud, PUBLIC.clientId);
  assert.equal(claims?.nonce, flow.nonce);
  assert.deepEqual(claims?.roles, ['opendke-admin']);
  // The access token is for the service's audience and passes its authenticator.
  const authenticator = createAuthenticator(authConfigFor([issuerConfigFor(iss, { rolesClaim: 'roles' })]));
  const principal = await authenticator.authenticate(bearer(tokens.access_token));
  assert.equal(principal.subject, 'alice');
  assert.deepEqual(principal.roles, ['opendke-admin']);

  // One-time: the same code again is refused.
  const again = await tokenCall({
    grant_type: 'authorization_code',
    client_id: PUBLIC.clientId,
    code: callback.searchParams.get('code') ?? '',
    redirect_uri: REDIRECT,
    code_verifier: flow.verifier,
  });
  assert.deepEqual(again, { status: 400, error: 'invalid_grant' });
});

test('a code is bound to its verifier, redirect URI and client, and spent by a failed attempt', async () => {
  const wrongs: readonly Record<string, string>[] = [
    { code_verifier: oidc.randomPKCECodeVerifier() },
    { redirect_uri: 'http://127.0.0.1:1/other' },
    { client_id: CONFIDENTIAL.clientId, client_secret: CONFIDENTIAL.clientSecret },
  ];
  for (const wrong of wrongs) {
    const flow = await start();
    const code = (await loginRedirect(flow.url, 'alice', 'alice-pass')).searchParams.get('code') ?? '';
    const right = {
      grant_type: 'authorization_code',
      client_id: PUBLIC.clientId,
      code,
      redirect_uri: REDIRECT,
      code_verifier: flow.verifier,
    };
    assert.deepEqual(await tokenCall({ ...right, ...wrong }), { status: 400, error: 'invalid_grant' });
    // The failed attempt spent the code: even the right request cannot use it now.
    assert.deepEqual(await tokenCall(right), { status: 400, error: 'invalid_grant' });
  }
});

test('PKCE is required (S256 only); an unregistered redirect URI gets a page, never a redirect', async () => {
  const plain = await start({ code_challenge_method: 'plain' });
  const refused = await fetch(plain.url, { redirect: 'manual' });
  assert.equal(refused.status, 302);
  const back = new URL(refused.headers.get('location') ?? '');
  assert.equal(back.origin + back.pathname, REDIRECT);
  assert.equal(back.searchParams.get('error'), 'invalid_request');
  assert.equal(back.searchParams.get('state'), plain.state);

  const noPkce = new URL(plain.url);
  noPkce.searchParams.delete('code_challenge');
  noPkce.searchParams.delete('code_challenge_method');
  const noPkceAnswer = await fetch(noPkce, { redirect: 'manual' });
  assert.equal(
    new URL(noPkceAnswer.headers.get('location') ?? '').searchParams.get('error'),
    'invalid_request',
  );

  const elsewhere = new URL((await start()).url);
  elsewhere.searchParams.set('redirect_uri', 'https://evil.example/cb');
  const page = await fetch(elsewhere, { redirect: 'manual' });
  assert.equal(page.status, 400);
  assert.equal(page.headers.get('location'), null);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
});

test('a wrong password shows the form again with no code', async () => {
  const flow = await start();
  const answer = await submitLogin(flow.url, 'alice', 'wrong');
  assert.equal(answer.status, 401);
  assert.equal(answer.location, null);
  assert.match(answer.body, /Wrong user name or password/);
  // The form still carries the request, so the user can try again.
  assert.equal(hiddenFields(answer.body).get('state'), flow.state);
});

test('a public client cannot use client credentials', async () => {
  const answer = await tokenCall({
    grant_type: 'client_credentials',
    client_id: PUBLIC.clientId,
    audience: TEST_AUDIENCE,
  });
  assert.deepEqual(answer, { status: 400, error: 'unauthorized_client' });
});
