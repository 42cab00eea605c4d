/** Bearer validation over real HTTP against two development issuers started by the test. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, type OidcAuthenticator } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import {
  authConfigFor,
  bearer,
  expiredToken,
  foreignKeyToken,
  handBuiltToken,
  hs256WithPublicKeyToken,
  issuerConfigFor,
  noExpiryToken,
  noneAlgToken,
  notYetValidToken,
  startTestIssuer,
  TEST_AUDIENCE,
  TEST_CLAIMS,
  unknownKidToken,
  validToken,
  wrongAudienceToken,
  wrongIssuerToken,
} from '../support/issuer.js';
import { rejectsWith } from './expect-auth.js';

let a: DevIssuer;
let b: DevIssuer;
let auth: OidcAuthenticator;

before(async () => {
  [a, b] = await Promise.all([startTestIssuer({ alg: 'ES256' }), startTestIssuer({ alg: 'RS256' })]);
  auth = createAuthenticator(
    authConfigFor([issuerConfigFor(a, TEST_CLAIMS), issuerConfigFor(b, TEST_CLAIMS)]),
  );
});
after(async () => {
  await Promise.all([a.close(), b.close()]);
});

describe('valid tokens', () => {
  test('a valid token of either issuer yields its principal', async () => {
    const pa = await auth.authenticate(
      bearer(await validToken(a, { sub: 'Alice-Sub', upn: ' Alice@A.example ' })),
    );
    assert.equal(pa.issuer, a.issuer);
    assert.equal(pa.subject, 'Alice-Sub');
    assert.deepEqual(pa.userIds, ['sub:Alice-Sub', 'alice@a.example']);
    assert.equal(pa.userName, 'alice@a.example');
    const pb = await auth.authenticate(bearer(await validToken(b, { sub: 'bob' })));
    assert.equal(pb.issuer, b.issuer);
    assert.deepEqual(pb.userIds, ['sub:bob']);
    assert.equal(pb.userName, undefined);
  });

  test('the Bearer scheme is case-insensitive', async () => {
    const token = await validToken(a);
    assert.equal((await auth.authenticate(`bearer ${token}`)).subject, 'user-1');
    assert.equal((await auth.authenticate(`BEARER  ${token}`)).subject, 'user-1');
  });

  test('an aud array containing the audience is accepted; clock skew covers a just-expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await auth.authenticate(bearer(await validToken(a, { aud: ['other', TEST_AUDIENCE] })));
    await auth.authenticate(bearer(await validToken(a, { iat: now - 100, exp: now - 30 })));
  });
});

describe('missing credentials: ERR_AUTH_MISSING', () => {
  for (const header of [
    undefined,
    '',
    '   ',
    'Basic dXNlcjpwYXNz',
    'Bearer',
    'Bearer   ',
    'Bearer a b',
    'Token abc',
  ]) {
    test(`header ${JSON.stringify(header)}`, async () => {
      await rejectsWith(auth.authenticate(header), 'ERR_AUTH_MISSING');
    });
  }
});

describe('bad tokens: ERR_AUTH_INVALID', () => {
  const cases: [string, () => Promise<string> | string, RegExp?][] = [
    ['expired', () => expiredToken(a), /expired/],
    ['not yet valid (nbf)', () => notYetValidToken(a), /not yet valid/],
    [
      'issued in the future (iat)',
      () => validToken(a, { iat: Math.floor(Date.now() / 1000) + 3600 }),
      /not yet valid/,
    ],
    ['wrong audience', () => wrongAudienceToken(a), /"aud"/],
    ['audience differing only in case', () => validToken(a, { aud: TEST_AUDIENCE.toUpperCase() }), /"aud"/],
    ['unknown issuer', () => wrongIssuerToken(a), /issuer not accepted/],
    ['issuer with a trailing slash', () => wrongIssuerToken(a, `${a.issuer}/`), /issuer not accepted/],
    ['issuer B claimed, signed by issuer A', () => wrongIssuerToken(a, b.issuer)],
    ['no exp', () => noExpiryToken(a), /"exp"/],
    ['no sub', () => validToken(a, { sub: undefined }), /"sub"/],
    ['blank sub', () => validToken(a, { sub: '  ' }), /subject/],
    ['alg none', () => noneAlgToken(a)],
    ['HS256 keyed with the public key', () => hs256WithPublicKeyToken(a), /algorithm/],
    ['HS256 keyed with the RSA public key', () => hs256WithPublicKeyToken(b), /algorithm/],
    ['unknown kid', () => unknownKidToken(a)],
    ['foreign key under the issuer kid', () => foreignKeyToken(a), /signature/],
    ['foreign RSA key under the issuer kid', () => foreignKeyToken(b), /signature/],
    ['not a JWT', () => 'abc.def.ghi'],
    ['two parts', () => 'abc.def'],
    ['huge token', () => 'a'.repeat(20000)],
    [
      'tampered payload',
      async () => {
        const [h, , s] = (await validToken(a, { sub: 'mallory' })).split('.');
        const payload = Buffer.from(
          JSON.stringify({ iss: a.issuer, sub: 'alice', aud: TEST_AUDIENCE, exp: 9999999999 }),
        );
        return `${h}.${payload.toString('base64url')}.${s}`;
      },
      /signature/,
    ],
    [
      'no iss',
      () => handBuiltToken({ alg: 'ES256', kid: a.kid }, { sub: 'x', aud: TEST_AUDIENCE }, 'AAAA'),
      /issuer/,
    ],
  ];
  for (const [name, make, message] of cases) {
    test(name, async () => {
      await rejectsWith(auth.authenticate(bearer(await make())), 'ERR_AUTH_INVALID', message);
    });
  }

  test('jose detail goes to detail, not to the message', async () => {
    const error = await auth.authenticate(bearer(await expiredToken(a))).catch((e: unknown) => e);
    assert.ok(error instanceof Error && 'detail' in error);
    assert.match(String(error.detail), /ERR_JWT_EXPIRED/);
    assert.equal(error.message, 'token expired');
  });
});

describe('configured claim checks', () => {
  test('requiredClaims: a token without one is refused', async () => {
    const strict = createAuthenticator(authConfigFor([issuerConfigFor(a, { requiredClaims: ['azp'] })]));
    await rejectsWith(strict.authenticate(bearer(await validToken(a))), 'ERR_AUTH_INVALID', /"azp"/);
    await strict.authenticate(bearer(await validToken(a, { azp: 'client' })));
  });

  test('algorithms: a token signed with an algorithm not pinned for its issuer is refused', async () => {
    // Issuer B signs RS256; pinning it to PS256 must refuse its tokens even though the key is right.
    const pinned = createAuthenticator(authConfigFor([issuerConfigFor(b, { algorithms: ['PS256'] })]));
    await rejectsWith(pinned.authenticate(bearer(await validToken(b))), 'ERR_AUTH_INVALID', /algorithm/);
  });

  test('clock skew is configurable: 0 refuses a token expired seconds ago', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await validToken(a, { iat: now - 100, exp: now - 5 });
    const tight = createAuthenticator(authConfigFor([issuerConfigFor(a, { clockSkewSeconds: 0 })]));
    await rejectsWith(tight.authenticate(bearer(token)), 'ERR_AUTH_INVALID', /expired/);
    await auth.authenticate(bearer(token));
  });

  test('challenge carries audience and authority only when configured', () => {
    assert.equal(auth.challenge, undefined);
    const withChallenge = createAuthenticator(
      authConfigFor([issuerConfigFor(a)], { challenge: { authority: 'https://login.example/tenant' } }),
    );
    assert.deepEqual(withChallenge.challenge, {
      audience: TEST_AUDIENCE,
      authority: 'https://login.example/tenant',
    });
  });
});
