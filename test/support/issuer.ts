/**
 * Test helpers around the development issuer: start one, mint valid tokens with any claims and headers, and
 * mint deliberately bad ones (expired, not yet valid, wrong audience or issuer, alg none, HS256 keyed with
 * the public key, unknown kid, foreign key). Tokens are built so each one is wrong in exactly one way.
 */
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { CompactSign, type JWK } from 'jose';
import type { AuthConfig, IssuerConfig } from '../../src/auth/index.js';
import {
  startDevIssuer,
  type DevIssuer,
  type DevIssuerOptions,
  type SignTokenOptions,
} from '../../src/devissuer/index.js';

/** The audience test issuers and authenticators agree on. */
export const TEST_AUDIENCE = 'api://opendke-test';
export const DEFAULT_TEST_SUBJECT = 'user-1';

type Claims = Readonly<Record<string, unknown>>;

/** Starts a development issuer on a free loopback port with TEST_AUDIENCE as the default audience. */
export function startTestIssuer(options: DevIssuerOptions = {}): Promise<DevIssuer> {
  return startDevIssuer({ defaultAudience: TEST_AUDIENCE, ...options });
}

/**
 * The claims the test tokens use, declared the way a real config must declare them (nothing is implicit):
 * object ids in `oid`, user names in `upn` / `preferred_username`, groups in `groups`, roles in `roles`.
 */
export const TEST_CLAIMS = {
  objectIdClaim: 'oid',
  userNameClaims: ['upn', 'preferred_username'],
  groupsClaim: 'groups',
  rolesClaim: 'roles',
} as const satisfies Partial<IssuerConfig>;

/** Issuer config for an authenticator that trusts `issuer` (short timeouts, discovery on). */
export function issuerConfigFor(issuer: DevIssuer, overrides: Partial<IssuerConfig> = {}): IssuerConfig {
  return { issuer: issuer.issuer, algorithms: [issuer.alg], fetchTimeoutMs: 2000, ...overrides };
}

/** An `auth` config section trusting the given issuers for TEST_AUDIENCE. */
export function authConfigFor(
  issuers: readonly IssuerConfig[],
  overrides: Partial<AuthConfig> = {},
): AuthConfig {
  return { audience: TEST_AUDIENCE, issuers: [...issuers], ...overrides };
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A valid token: sub user-1, aud TEST_AUDIENCE, unless the claims say otherwise. */
export function validToken(
  issuer: DevIssuer,
  claims: Claims = {},
  options: SignTokenOptions = {},
): Promise<string> {
  return issuer.signToken({ sub: DEFAULT_TEST_SUBJECT, aud: TEST_AUDIENCE, ...claims }, options);
}

/** Expired an hour ago: far beyond any allowed clock skew. */
export function expiredToken(issuer: DevIssuer, claims: Claims = {}): Promise<string> {
  const now = nowSeconds();
  return validToken(issuer, { iat: now - 7200, exp: now - 3600, ...claims });
}

/** Valid only from an hour from now. */
export function notYetValidToken(issuer: DevIssuer, claims: Claims = {}): Promise<string> {
  return validToken(issuer, { nbf: nowSeconds() + 3600, ...claims });
}

export function wrongAudienceToken(issuer: DevIssuer, claims: Claims = {}): Promise<string> {
  return validToken(issuer, { aud: 'api://someone-else', ...claims });
}

/** Signed with the issuer's real key, but claiming another issuer (by default one nobody configured). */
export function wrongIssuerToken(
  issuer: DevIssuer,
  iss = 'https://evil.example',
  claims: Claims = {},
): Promise<string> {
  return validToken(issuer, { iss, ...claims });
}

/** A token without `exp`. */
export function noExpiryToken(issuer: DevIssuer, claims: Claims = {}): Promise<string> {
  return validToken(issuer, { exp: undefined, ...claims });
}

function b64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** Default claims of a hand-built token: everything a valid token of `issuer` has. */
function fullClaims(issuer: DevIssuer, claims: Claims): Claims {
  const now = nowSeconds();
  return {
    iss: issuer.issuer,
    sub: DEFAULT_TEST_SUBJECT,
    aud: TEST_AUDIENCE,
    iat: now,
    exp: now + 600,
    ...claims,
  };
}

/** A hand-built compact JWS with any header, payload and signature text. */
export function handBuiltToken(header: Claims, payload: Claims, signature = ''): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

/** `alg: none`: unsigned, with otherwise perfect claims and the issuer's kid. */
export function noneAlgToken(issuer: DevIssuer, claims: Claims = {}): string {
  return handBuiltToken({ alg: 'none', typ: 'JWT', kid: issuer.kid }, fullClaims(issuer, claims));
}

/** The issuer's current public key as PEM (SPKI): what an algorithm-confusion attacker would use as secret. */
export function issuerPublicKeyPem(issuer: DevIssuer): string {
  const jwk = issuer.publicJwks().keys.find((key) => key.kid === issuer.kid);
  if (!jwk) throw new Error('current key not in the JWKS');
  return createPublicKey({ key: jwk as JWK & Record<string, unknown>, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

/** HS256 with the issuer's public key (PEM bytes) as the HMAC secret: the classic algorithm confusion. */
export function hs256WithPublicKeyToken(issuer: DevIssuer, claims: Claims = {}): string {
  const signingInput = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: issuer.kid }))}.${b64url(
    JSON.stringify(fullClaims(issuer, claims)),
  )}`;
  const mac = createHmac('sha256', issuerPublicKeyPem(issuer)).update(signingInput).digest();
  return `${signingInput}.${b64url(mac)}`;
}

let foreign: { ES256?: KeyObject; RS256?: KeyObject } = {};

/** A private key of the issuer's algorithm that the issuer never published (generated once per process). */
export function foreignKey(alg: 'ES256' | 'RS256'): KeyObject {
  const cached = foreign[alg];
  if (cached) return cached;
  const key =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  foreign = { ...foreign, [alg]: key };
  return key;
}

/** Signs any claims with any key and header (alg taken from the header, default the issuer's). */
export function signWithKey(
  key: KeyObject,
  header: Claims & { alg: string },
  payload: Claims,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key);
}

/** Perfect claims, signed by a key the issuer never published, under a key id the issuer does not know. */
export function unknownKidToken(issuer: DevIssuer, claims: Claims = {}): Promise<string> {
  return signWithKey(
    foreignKey(issuer.alg),
    { alg: issuer.alg, typ: 'JWT', kid: `unknown-${randomUUID()}` },
    fullClaims(issuer, claims),
  );
}

/** Perfect claims and the issuer's current kid, but signed by a foreign key. */
export function foreignKeyToken(issuer: DevIssuer, claims: Claims = {}): Promise<string> {
  return signWithKey(
    foreignKey(issuer.alg),
    { alg: issuer.alg, typ: 'JWT', kid: issuer.kid },
    fullClaims(issuer, claims),
  );
}

export interface TokenRequestOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** client_secret_basic (default) or client_secret_post. */
  readonly method?: 'basic' | 'post';
  readonly audience?: string;
  readonly extra?: Readonly<Record<string, string>>;
}

/** Calls the issuer's token endpoint (client-credentials grant); returns status and JSON body. */
export async function requestToken(
  issuer: DevIssuer,
  options: TokenRequestOptions,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...options.extra });
  if (options.audience !== undefined) form.set('audience', options.audience);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if ((options.method ?? 'basic') === 'basic') {
    const enc = (s: string): string => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(options.clientId)}:${enc(options.clientSecret)}`).toString('base64')}`;
  } else {
    form.set('client_id', options.clientId);
    form.set('client_secret', options.clientSecret);
  }
  const response = await fetch(issuer.tokenEndpoint, { method: 'POST', headers, body: form.toString() });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
