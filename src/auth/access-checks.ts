/**
 * Checks on a verified token beyond its registered claims (docs/auth.md): how long it was issued for, which
 * client obtained it, and which scopes and roles it carries. Each is configured per issuer.
 */
import type { JWTPayload } from 'jose';
import { DkeError } from '../errors/index.js';
import { comparableIdentity } from '../policy/identity.js';
import type { ResolvedIssuerConfig } from './config.js';

function invalid(message: string, detail: string): DkeError {
  return new DkeError('ERR_AUTH_INVALID', { message, detail });
}

/**
 * `exp - iat` must not exceed maxTokenLifetimeSeconds. `iat` is required (RFC 9068 §2.2), so a token that
 * does not say when it was issued cannot pass as short-lived.
 */
export function checkLifetime(payload: JWTPayload, config: ResolvedIssuerConfig): void {
  const { exp, iat } = payload;
  if (typeof exp !== 'number' || typeof iat !== 'number') {
    throw invalid('token lifetime not accepted', 'exp or iat missing');
  }
  const lifetime = exp - iat;
  if (lifetime > config.maxTokenLifetimeSeconds) {
    throw invalid(
      'token lifetime too long',
      `exp - iat = ${lifetime} s exceeds ${config.maxTokenLifetimeSeconds} s`,
    );
  }
}

/**
 * The client that obtained the token: `azp` (OIDC, Entra v2) when present, else `appid` (Entra v1). A
 * malformed `azp` does not fall back to `appid`: the token names its client badly and is refused.
 */
function clientOf(payload: JWTPayload): string | undefined {
  const value = Object.hasOwn(payload, 'azp') ? payload.azp : payload.appid;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** With allowedClientIds, the token's client must be listed exactly; a token naming no client is refused. */
export function checkClient(payload: JWTPayload, config: ResolvedIssuerConfig): void {
  if (config.allowedClientIds === undefined) return;
  const client = clientOf(payload);
  if (client === undefined || !config.allowedClientIds.includes(client)) {
    throw invalid(
      'token client not accepted',
      `client ${JSON.stringify(client)?.slice(0, 200)} is not allowed`,
    );
  }
}

/** The token's scopes: `scp` (Entra), else `scope` (RFC 9068); a space-separated string or an array. */
function scopesOf(payload: JWTPayload): string[] {
  const raw: unknown = payload.scp ?? payload.scope;
  const parts = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? (raw as unknown[]) : [];
  return parts.filter((scope): scope is string => typeof scope === 'string' && scope !== '');
}

/** Every required scope must be present, compared exactly (scopes are case-sensitive, RFC 6749 §3.3). */
export function checkScopes(payload: JWTPayload, config: ResolvedIssuerConfig): void {
  if (config.requiredScopes.length === 0) return;
  const have = new Set(scopesOf(payload));
  const missing = config.requiredScopes.filter((scope) => !have.has(scope));
  if (missing.length > 0) {
    throw invalid('token scope not accepted', `missing scopes ${missing.join(' ').slice(0, 200)}`);
  }
}

/** Every required role must be among the principal's roles, compared as policies compare roles. */
export function checkRoles(roles: readonly string[], config: ResolvedIssuerConfig): void {
  if (config.requiredRoles.length === 0) return;
  const have = new Set(roles.map(comparableIdentity).filter((role) => role !== undefined));
  const missing = config.requiredRoles.filter((role) => {
    const wanted = comparableIdentity(role);
    return wanted === undefined || !have.has(wanted);
  });
  if (missing.length > 0) {
    throw invalid('token role not accepted', `missing roles ${missing.join(' ').slice(0, 200)}`);
  }
}
