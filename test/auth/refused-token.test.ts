/**
 * Which refusals name the token's issuer and subject (verifiedTokenOf): only tokens whose signature verified
 * against a configured issuer and that were refused afterwards. Forged, unsigned, foreign-issuer and
 * malformed tokens never carry an identity, whatever they claim. Real development issuer over real HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, verifiedTokenOf, type AuthConfig } from '../../src/auth/index.js';
import type { IssuerConfig } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { isDkeError } from '../../src/errors/index.js';
import {
  authConfigFor,
  bearer,
  expiredToken,
  foreignKeyToken,
  hs256WithPublicKeyToken,
  issuerConfigFor,
  noneAlgToken,
  notYetValidToken,
  startTestIssuer,
  TEST_CLAIMS,
  unknownKidToken,
  validToken,
  wrongAudienceToken,
  wrongIssuerToken,
} from '../support/issuer.js';

let a: DevIssuer;
before(async () => {
  a = await startTestIssuer({ alg: 'ES256' });
});
after(() => a.close());

/** The refusal of `token` by an authenticator for issuer `a` with `overrides`. */
async function refusal(token: string, overrides: Partial<IssuerConfig> = {}): Promise<unknown> {
  const config: AuthConfig = authConfigFor([issuerConfigFor(a, { ...TEST_CLAIMS, ...overrides })]);
  try {
    await createAuthenticator(config).authenticate(bearer(token));
  } catch (error) {
    assert.ok(isDkeError(error, 'ERR_AUTH_INVALID'), String(error));
    return error;
  }
  assert.fail('the token was accepted');
}

describe('verified but refused: the refusal names issuer and subject', () => {
  const now = (): number => Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<string>, Partial<IssuerConfig>?][] = [
    ['expired', () => expiredToken(a, { sub: 'victim' })],
    ['not yet valid', () => notYetValidToken(a, { sub: 'victim' })],
    ['wrong audience', () => wrongAudienceToken(a, { sub: 'victim' })],
    ['issued in the future', () => validToken(a, { sub: 'victim', iat: now() + 3600, exp: now() + 3700 })],
    [
      'lifetime too long',
      () => validToken(a, { sub: 'victim', iat: now(), exp: now() + 3600 }),
      { maxTokenLifetimeSeconds: 600 },
    ],
    [
      'client not accepted',
      () => validToken(a, { sub: 'victim', azp: 'other' }),
      { allowedClientIds: ['office'] },
    ],
    [
      'scope not accepted',
      () => validToken(a, { sub: 'victim', scp: 'read' }),
      { requiredScopes: ['write'] },
    ],
    ['role not accepted', () => validToken(a, { sub: 'victim' }), { requiredRoles: ['dke-user'] }],
  ];
  for (const [name, token, overrides] of cases) {
    test(name, async () => {
      const error = await refusal(await token(), overrides);
      assert.deepEqual(verifiedTokenOf(error), { issuer: a.issuer, subject: 'victim' });
      assert.doesNotMatch((error as Error).message, /victim/, 'the subject is never public text');
    });
  }

  test('tenant not accepted: names the accepted (tenant) issuer', async () => {
    const issuer = `${a.issuer}/tenant-1/v2.0`;
    const error = await refusal(await validToken(a, { iss: issuer, sub: 'victim', tid: 'tenant-2' }), {
      issuer,
      jwksUri: a.jwksUri,
      tenantId: 'tenant-1',
    });
    assert.match((error as Error).message, /tenant not accepted/);
    assert.deepEqual(verifiedTokenOf(error), { issuer, subject: 'victim' });
  });

  test('a very long subject is cut to 256 characters', async () => {
    const error = await refusal(await expiredToken(a, { sub: 'x'.repeat(5000) }));
    assert.equal(verifiedTokenOf(error)?.subject, 'x'.repeat(256));
  });
});

describe('anything not verified, or without a subject, carries no identity', () => {
  const cases: [string, () => Promise<string> | string][] = [
    ['signed by a foreign key under the issuer kid', () => foreignKeyToken(a, { sub: 'victim' })],
    ['unknown key id', () => unknownKidToken(a, { sub: 'victim' })],
    ['alg none', () => noneAlgToken(a, { sub: 'victim' })],
    ['HS256 keyed with the public key', () => hs256WithPublicKeyToken(a, { sub: 'victim' })],
    ['an issuer nobody configured', () => wrongIssuerToken(a, 'https://evil.example', { sub: 'victim' })],
    ['expired, subject blank', () => expiredToken(a, { sub: '  ' })],
    ['expired, subject not a string', () => expiredToken(a, { sub: 42 })],
    ['not a JWT', () => 'not.a.jwt'],
  ];
  for (const [name, token] of cases) {
    test(name, async () => {
      assert.equal(verifiedTokenOf(await refusal(await token())), undefined);
    });
  }

  test('errors that are not refusals carry none', () => {
    assert.equal(verifiedTokenOf(new Error('x')), undefined);
    assert.equal(verifiedTokenOf(undefined), undefined);
  });
});
