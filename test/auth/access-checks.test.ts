/**
 * Per-issuer client, scope, role and lifetime checks (issue 9 item 4, docs/auth.md), with tokens of a real
 * development issuer (and its real token endpoint) over real HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, resolveAuthConfig, type IssuerConfig } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { isDkeError } from '../../src/errors/index.js';
import {
  authConfigFor,
  bearer,
  issuerConfigFor,
  requestToken,
  startTestIssuer,
  TEST_AUDIENCE,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
import { rejectsWith } from './expect-auth.js';

let iss: DevIssuer;
before(async () => {
  iss = await startTestIssuer({
    clients: [
      { clientId: 'office', clientSecret: 'office-secret', claims: { upn: 'a@x' } },
      { clientId: 'other-app', clientSecret: 'other-secret', claims: { upn: 'a@x' } },
    ],
  });
});
after(() => iss.close());

const now = (): number => Math.floor(Date.now() / 1000);

function authWith(config: Partial<IssuerConfig>): ReturnType<typeof createAuthenticator> {
  return createAuthenticator(authConfigFor([issuerConfigFor(iss, { ...TEST_CLAIMS, ...config })]));
}

async function accepts(config: Partial<IssuerConfig>, claims: Record<string, unknown>): Promise<void> {
  await authWith(config).authenticate(bearer(await validToken(iss, claims)));
}

async function refuses(
  config: Partial<IssuerConfig>,
  claims: Record<string, unknown>,
  message: RegExp,
): Promise<void> {
  await rejectsWith(
    authWith(config).authenticate(bearer(await validToken(iss, claims))),
    'ERR_AUTH_INVALID',
    message,
  );
}

test('lifetime: a token valid for 100 years is refused by default', async () => {
  const t = now();
  await refuses({}, { iat: t, exp: t + 100 * 365 * 86400 }, /^token lifetime too long$/);
  await refuses({}, { iat: t - 10, exp: t + 86400 }, /lifetime too long/);
  await accepts({}, { iat: t - 10, exp: t - 10 + 86400 });
});

test('lifetime: configurable, measured as exp - iat', async () => {
  const t = now();
  await refuses({ maxTokenLifetimeSeconds: 600 }, { iat: t, exp: t + 3600 }, /lifetime too long/);
  await accepts({ maxTokenLifetimeSeconds: 600 }, { iat: t - 500, exp: t + 100 });
  await accepts({ maxTokenLifetimeSeconds: 100800 }, { iat: t, exp: t + 100800 });
});

test('lifetime: a token without iat is refused (its lifetime is unknown)', async () => {
  await refuses({}, { iat: undefined }, /token claim "iat" not accepted/);
  await refuses({}, { iat: 'yesterday' }, /iat/);
});

test('lifetime: config bounds', () => {
  for (const value of [59, 7 * 86400 + 1, 1.5, '3600']) {
    assert.throws(
      () =>
        resolveAuthConfig(
          authConfigFor([issuerConfigFor(iss, { maxTokenLifetimeSeconds: value as number })]),
        ),
      (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /maxTokenLifetimeSeconds/.test(e.message),
    );
  }
});

test('clients: azp, else appid, must be listed; a token naming no client is refused', async () => {
  const config = { allowedClientIds: ['office', 'c00e9d32-3c8d-4a7d-832b-029040e7db99'] };
  await accepts(config, { azp: 'office' });
  await accepts(config, { appid: 'c00e9d32-3c8d-4a7d-832b-029040e7db99' });
  await refuses(config, { azp: 'other-app' }, /^token client not accepted$/);
  await refuses(config, { azp: 'Office' }, /client not accepted/);
  await refuses(config, {}, /client not accepted/);
  await refuses(config, { azp: 'other-app', appid: 'office' }, /client not accepted/);
  await refuses(config, { azp: ['office'] }, /client not accepted/);
  await refuses(config, { azp: ['other'], appid: 'office' }, /client not accepted/);
  await accepts({}, {}); // no list: any client
});

test('clients: a real token-endpoint token carries azp of the client that asked for it', async () => {
  const auth = authWith({ allowedClientIds: ['office'] });
  const good = await requestToken(iss, {
    clientId: 'office',
    clientSecret: 'office-secret',
    audience: TEST_AUDIENCE,
  });
  assert.equal((await auth.authenticate(bearer(String(good.body.access_token)))).userName, 'a@x');
  const bad = await requestToken(iss, {
    clientId: 'other-app',
    clientSecret: 'other-secret',
    audience: TEST_AUDIENCE,
  });
  await rejectsWith(auth.authenticate(bearer(String(bad.body.access_token))), 'ERR_AUTH_INVALID', /client/);
});

test('scopes: every required scope in scp (else scope), compared exactly', async () => {
  const config = { requiredScopes: ['user_impersonation'] };
  await accepts(config, { scp: 'openid user_impersonation' });
  await accepts(config, { scope: 'user_impersonation profile' });
  await accepts(config, { scp: ['user_impersonation'] });
  await refuses(config, {}, /^token scope not accepted$/);
  await refuses(config, { scp: 'User_Impersonation' }, /scope not accepted/);
  await refuses(config, { scp: 'user_impersonation_x' }, /scope not accepted/);
  await refuses(config, { scp: 'openid', scope: 'user_impersonation' }, /scope not accepted/);
  await refuses({ requiredScopes: ['a', 'b'] }, { scp: 'a' }, /scope not accepted/);
  await accepts({ requiredScopes: ['a', 'b'] }, { scp: 'b a' });
});

test('scopes: a real token-endpoint token with the requested scope', async () => {
  const auth = authWith({ requiredScopes: ['dke.unwrap'] });
  const asked = await requestToken(iss, {
    clientId: 'office',
    clientSecret: 'office-secret',
    audience: TEST_AUDIENCE,
    extra: { scope: 'dke.unwrap' },
  });
  await auth.authenticate(bearer(String(asked.body.access_token)));
  const plain = await requestToken(iss, {
    clientId: 'office',
    clientSecret: 'office-secret',
    audience: TEST_AUDIENCE,
  });
  await rejectsWith(auth.authenticate(bearer(String(plain.body.access_token))), 'ERR_AUTH_INVALID', /scope/);
});

test('roles: every required role in the configured roles claim (ASCII case-insensitive)', async () => {
  const config = { requiredRoles: ['DKE.User'] };
  await accepts(config, { roles: ['DKE.User'] });
  await accepts(config, { roles: ['dke.user', 'x'] });
  await refuses(config, {}, /^token role not accepted$/);
  await refuses(config, { roles: ['D\u212AE.User'] }, /role not accepted/);
  await refuses(config, { groups: ['DKE.User'] }, /role not accepted/);
  await refuses({ requiredRoles: ['DKE.User'], rolesClaim: 'app_roles' }, { roles: ['DKE.User'] }, /role/);
});
