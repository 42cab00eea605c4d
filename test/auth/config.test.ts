/** The `auth` config section: schema, semantic checks, defaults. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import {
  authConfigSchema,
  createAuthenticator,
  resolveAuthConfig,
  type AuthConfig,
} from '../../src/auth/index.js';
import { isDkeError } from '../../src/errors/index.js';

const ISSUER = 'https://login.example.com/tenant/v2.0';

function config(issuer: Record<string, unknown> = {}, top: Record<string, unknown> = {}): unknown {
  return { audience: 'api://dke', issuers: [{ issuer: ISSUER, algorithms: ['RS256'], ...issuer }], ...top };
}

function assertInvalid(input: unknown, message: RegExp): void {
  assert.throws(
    () => resolveAuthConfig(input),
    (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && message.test(e.message),
    JSON.stringify(input),
  );
}

test('defaults', () => {
  const resolved = resolveAuthConfig(config({ issuer: 'https://sts.example/tid/' }));
  const issuer = resolved.issuers[0];
  assert.ok(issuer);
  assert.equal(issuer.discoveryUrl, 'https://sts.example/tid/.well-known/openid-configuration');
  assert.equal(issuer.clockSkewSeconds, 60);
  // Nothing is read from a claim the config does not name.
  assert.deepEqual(issuer.userNameClaims, []);
  assert.equal(issuer.objectIdClaim, undefined);
  assert.equal(issuer.emailVerified, false);
  assert.equal(issuer.groupsClaim, undefined);
  assert.equal(issuer.rolesClaim, undefined);
  assert.equal(issuer.tenantId, undefined);
  assert.equal(issuer.allowedClientIds, undefined);
  assert.deepEqual(issuer.requiredScopes, []);
  assert.deepEqual(issuer.requiredRoles, []);
  assert.equal(issuer.maxTokenLifetimeSeconds, 86400);
  assert.equal(issuer.jwksCooldownSeconds, 30);
  assert.equal(resolved.challenge, undefined);
});

test('symmetric algorithms and none are refused', () => {
  for (const alg of ['HS256', 'HS384', 'HS512', 'none', 'None', 'rs256']) {
    assertInvalid(config({ algorithms: ['RS256', alg] }), /algorithms\[1\] must be one of/);
  }
  assertInvalid(config({ algorithms: [] }), /algorithms/);
  assertInvalid(config({ algorithms: undefined }), /algorithms/);
});

test('clock skew is bounded', () => {
  assertInvalid(config({ clockSkewSeconds: 301 }), /clockSkewSeconds/);
  assertInvalid(config({ clockSkewSeconds: -1 }), /clockSkewSeconds/);
  assert.equal(resolveAuthConfig(config({ clockSkewSeconds: 300 })).issuers[0]?.clockSkewSeconds, 300);
});

test('email may not be a plain user-name claim (nOAuth)', () => {
  assertInvalid(config({ userNameClaims: ['upn', 'Email'] }), /emailVerified/);
});

test('URLs: https, or http to loopback only', () => {
  assertInvalid(config({ issuer: 'http://login.example.com' }), /issuer must be an https URL/);
  assertInvalid(config({ jwksUri: 'http://10.0.0.1/keys' }), /jwksUri/);
  assertInvalid(config({ discoveryUrl: 'file:///etc/passwd' }), /discoveryUrl/);
  assertInvalid(config({ jwksUri: 'https://user:pw@idp.example/keys' }), /jwksUri/);
  resolveAuthConfig(config({ issuer: 'http://127.0.0.1:8080' }));
  resolveAuthConfig(config({ issuer: 'http://[::1]:8080' }));
});

test('shape errors name the field', () => {
  assertInvalid(config({}, { audience: '' }), /auth\.audience/);
  assertInvalid(config({}, { audience: '  ' }), /auth\.audience/);
  assertInvalid({ audience: 'x', issuers: [] }, /auth\.issuers/);
  assertInvalid(config({ groupClaim: 'g' }), /unknown property 'groupClaim'/);
  assertInvalid(config({}, { extra: 1 }), /unknown property 'extra'/);
  assertInvalid(config({ emailVerified: 'yes' }), /emailVerified/);
  assertInvalid(null, /auth/);
});

test('an issuer configured twice is refused', () => {
  const dup = {
    audience: 'a',
    issuers: [
      { issuer: ISSUER, algorithms: ['RS256'] },
      { issuer: ISSUER, algorithms: ['ES256'] },
    ],
  };
  assertInvalid(dup, /issuers\[1\]\.issuer is configured twice/);
});

test('createAuthenticator validates its config too', () => {
  const bad = config({ algorithms: ['HS256'] }) as AuthConfig;
  assert.throws(
    () => createAuthenticator(bad),
    (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
  );
});

test('the schema embeds in a larger config schema', () => {
  const validate = new Ajv({ strict: true }).compile({
    type: 'object',
    properties: { auth: authConfigSchema, port: { type: 'integer' } },
    required: ['auth'],
  });
  assert.equal(validate({ auth: config(), port: 1 }), true);
  assert.equal(validate({ auth: config({ algorithms: ['HS256'] }) }), false);
});
