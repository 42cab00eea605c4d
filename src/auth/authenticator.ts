/**
 * Bearer-JWT authentication against configured OIDC issuers (docs/auth.md). Order of checks: header shape,
 * token shape, issuer (unverified `iss` only picks the configuration), signature with a pinned algorithm and
 * the issuer's published keys, registered claims (iss, aud, exp, nbf, iat, required claims), then tenant and
 * identity claims while building the Principal.
 */
import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { Authenticator, Principal } from '../service/contracts.js';
import { DkeError } from '../errors/index.js';
import { resolveAuthConfig, type AuthConfig, type ResolvedIssuerConfig } from './config.js';
import { bearerToken } from './bearer.js';
import { IssuerKeys, type IssuerKeyStats } from './issuer-keys.js';
import { tokenError } from './jose-errors.js';
import { buildPrincipal } from './principal.js';

/** Registered claims every token must carry, whatever the issuer config adds. */
const ALWAYS_REQUIRED = ['iss', 'aud', 'exp', 'sub'] as const;

export interface OidcAuthenticator extends Authenticator {
  /** Per-issuer fetch counters (tests, metrics). */
  keyStats(issuer: string): IssuerKeyStats | undefined;
}

interface IssuerEntry {
  readonly config: ResolvedIssuerConfig;
  readonly keys: IssuerKeys;
}

/** The unverified `iss`, used only to choose which configuration verifies the token. */
function unverifiedIssuer(token: string): string {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch (error) {
    throw tokenError(error);
  }
  if (typeof payload.iss !== 'string')
    throw new DkeError('ERR_AUTH_INVALID', { message: 'token has no issuer' });
  return payload.iss;
}

async function verify(token: string, entry: IssuerEntry, audience: string): Promise<JWTPayload> {
  const { config } = entry;
  try {
    const { payload } = await jwtVerify(token, entry.keys.getKey, {
      issuer: config.issuer,
      audience,
      algorithms: [...config.algorithms],
      clockTolerance: config.clockSkewSeconds,
      requiredClaims: [...new Set([...ALWAYS_REQUIRED, ...config.requiredClaims])],
    });
    // jose checks `iat` only with maxTokenAge; a token issued in the future is as suspicious as an early nbf.
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + config.clockSkewSeconds) {
      throw new DkeError('ERR_AUTH_INVALID', {
        message: 'token not yet valid',
        detail: `iat ${payload.iat} is in the future`,
      });
    }
    return payload;
  } catch (error) {
    throw tokenError(error);
  }
}

/** Creates the authenticator for an `auth` config section. Throws ERR_CONFIG_INVALID on a bad config. */
export function createAuthenticator(config: AuthConfig): OidcAuthenticator {
  const resolved = resolveAuthConfig(config);
  const issuers = new Map<string, IssuerEntry>(
    resolved.issuers.map((issuer) => [issuer.issuer, { config: issuer, keys: new IssuerKeys(issuer) }]),
  );

  async function authenticate(header: string | undefined): Promise<Principal> {
    const token = bearerToken(header);
    const iss = unverifiedIssuer(token);
    const entry = issuers.get(iss);
    if (!entry) {
      throw new DkeError('ERR_AUTH_INVALID', {
        message: 'token issuer not accepted',
        detail: `iss ${JSON.stringify(iss.slice(0, 200))} is not configured`,
      });
    }
    const payload = await verify(token, entry, resolved.audience);
    return buildPrincipal(payload, entry.config);
  }

  return {
    authenticate,
    challenge: resolved.challenge
      ? { audience: resolved.audience, authority: resolved.challenge.authority }
      : undefined,
    keyStats: (issuer) => issuers.get(issuer)?.keys.stats,
  };
}
