/**
 * Bearer-JWT authentication against configured OIDC issuers (docs/auth.md). Order of checks: header shape,
 * token shape, issuer (unverified `iss` only picks the configuration), signature with a pinned algorithm and
 * the issuer's published keys, registered claims (iss, aud, exp, nbf, iat, required claims), lifetime, then
 * tenant and identity claims while building the Principal, then client, scopes and roles. A refusal after
 * the signature verified names the token's issuer and subject (src/auth/refused-token.ts).
 */
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Authenticator, Principal } from '../service/contracts.js';
import { DkeError } from '../errors/index.js';
import { resolveAuthConfig, type AuthConfig, type ResolvedIssuerConfig } from './config.js';
import { bearerToken } from './bearer.js';
import { IssuerKeys, type IssuerKeyStats } from './issuer-keys.js';
import { tokenError } from './jose-errors.js';
import { buildPrincipal } from './principal.js';
import { acceptedIssuers, type AcceptedIssuer } from './tenancy.js';
import { checkClient, checkLifetime, checkRoles, checkScopes } from './access-checks.js';
import { refusedToken } from './refused-token.js';

/** Registered claims every token must carry, whatever the issuer config adds (`iat` for the lifetime). */
const ALWAYS_REQUIRED = ['iss', 'aud', 'exp', 'iat', 'sub'] as const;

export interface OidcAuthenticator extends Authenticator {
  /** Per-issuer fetch counters (tests, metrics). */
  keyStats(issuer: string): IssuerKeyStats | undefined;
}

interface IssuerEntry {
  readonly config: ResolvedIssuerConfig;
  readonly keys: IssuerKeys;
}

/** One exact `iss` the configuration accepts: its issuer's entry and the tenant it establishes. */
interface AcceptedEntry {
  readonly entry: IssuerEntry;
  readonly accepted: AcceptedIssuer;
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

/**
 * The signature-verified payload, or jose's refusal. jwtVerify checks the signature before any claim, so its
 * JWTExpired and JWTClaimValidationFailed come from a verified token: their `payload` is that token's and
 * names whose it was (src/auth/refused-token.ts). Every other jose error carries no identity.
 */
async function verifiedPayload(
  token: string,
  { entry, accepted }: AcceptedEntry,
  audience: string,
): Promise<JWTPayload> {
  const { config } = entry;
  try {
    // The exact accepted `iss` (for a multi-tenant issuer: its template with one allowed tenant filled in).
    const { payload } = await jwtVerify(token, entry.keys.getKey, {
      issuer: accepted.issuer,
      audience,
      algorithms: [...config.algorithms],
      clockTolerance: config.clockSkewSeconds,
      requiredClaims: [...new Set([...ALWAYS_REQUIRED, ...config.requiredClaims])],
    });
    return payload;
  } catch (error) {
    const refusal = tokenError(error);
    if (error instanceof errors.JWTExpired || error instanceof errors.JWTClaimValidationFailed) {
      throw refusedToken(refusal, accepted.issuer, error.payload);
    }
    throw refusal;
  }
}

/** Checks of a verified payload beyond jose's; a refusal names the token's issuer and subject. */
function checkVerified(payload: JWTPayload, { entry, accepted }: AcceptedEntry): Principal {
  const { config } = entry;
  try {
    // jose checks `iat` only with maxTokenAge; a token issued in the future is as suspicious as an early nbf.
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + config.clockSkewSeconds) {
      throw new DkeError('ERR_AUTH_INVALID', {
        message: 'token not yet valid',
        detail: `iat ${payload.iat} is in the future`,
      });
    }
    checkLifetime(payload, config);
    const principal = buildPrincipal(payload, config, accepted);
    checkClient(payload, config);
    checkScopes(payload, config);
    checkRoles(principal.roles, config);
    return principal;
  } catch (error) {
    // A programming error stays one (500), never becomes a refusal of the token.
    throw error instanceof DkeError ? refusedToken(error, accepted.issuer, payload) : error;
  }
}

/** Creates the authenticator for an `auth` config section. Throws ERR_CONFIG_INVALID on a bad config. */
export function createAuthenticator(config: AuthConfig): OidcAuthenticator {
  const resolved = resolveAuthConfig(config);
  const issuers = new Map<string, IssuerEntry>(
    resolved.issuers.map((issuer) => [issuer.issuer, { config: issuer, keys: new IssuerKeys(issuer) }]),
  );
  // Every exact `iss` accepted; a multi-tenant issuer contributes one per allowed tenant, sharing its keys.
  const accepted = new Map<string, AcceptedEntry>();
  for (const entry of issuers.values()) {
    for (const one of acceptedIssuers(entry.config)) accepted.set(one.issuer, { entry, accepted: one });
  }

  async function authenticate(header: string | undefined): Promise<Principal> {
    const token = bearerToken(header);
    const iss = unverifiedIssuer(token);
    const match = accepted.get(iss);
    if (!match) {
      throw new DkeError('ERR_AUTH_INVALID', {
        message: 'token issuer not accepted',
        detail: `iss ${JSON.stringify(iss.slice(0, 200))} is not configured`,
      });
    }
    return checkVerified(await verifiedPayload(token, match, resolved.audience), match);
  }

  return {
    authenticate,
    challenge: resolved.challenge
      ? { audience: resolved.audience, authority: resolved.challenge.authority }
      : undefined,
    keyStats: (issuer) => issuers.get(issuer)?.keys.stats,
  };
}
