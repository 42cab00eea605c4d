/**
 * What happens to a failed authentication (docs/config.md `server.authFailureLimit`, docs/audit.md): it is
 * counted in metrics by reason, recorded as a security event, and counted against its client address.
 * An address with more than `maxFailures` invalid tokens within `windowSeconds` is answered 429
 * ERR_RATE_LIMITED (with Retry-After) instead of 401 for `blockSeconds`.
 *
 * Only failures are limited: a request whose token is valid is served whatever its address did, so users
 * behind the same NAT or proxy as an attacker keep working. A request without any token
 * (ERR_AUTH_MISSING) is counted and recorded but never limited: clients need its 401 challenge to find the
 * authority, and it costs the service nothing. The client address is Fastify's `request.ip`: the socket's
 * peer, or the X-Forwarded-For entry of a `server.trustedProxies` proxy (never believed from anyone else).
 *
 * Issuer/subject are not known here: the authenticator refuses a token without saying whose it was, and the
 * claims of a refused token are not trustworthy enough to key a limit on (anyone could lock a victim out).
 */
import type { ErrorCode } from '../errors/index.js';
import type { AuthFailureLimitConfig } from '../config/schema.js';
import { problem, type HttpProblem } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';

export type { AuthFailureLimitConfig };

interface AddressState {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

/**
 * Failures per address in fixed windows. Memory is bounded: at most `maxTrackedAddresses` entries, kept in
 * least-recently-failed order (a Map re-inserted on each failure); the oldest is evicted past the cap.
 */
export class AuthFailureLimiter {
  private readonly addresses = new Map<string, AddressState>();

  constructor(
    private readonly config: AuthFailureLimitConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a failure; returns the seconds until the address may try again, or undefined if not limited. */
  fail(address: string): number | undefined {
    const now = this.now();
    const state = this.addresses.get(address) ?? { windowStart: now, failures: 0, blockedUntil: 0 };
    this.addresses.delete(address);
    this.addresses.set(address, state);
    if (this.addresses.size > this.config.maxTrackedAddresses) {
      const oldest = this.addresses.keys().next();
      if (oldest.done !== true) this.addresses.delete(oldest.value);
    }
    if (state.blockedUntil > now) return Math.ceil((state.blockedUntil - now) / 1000);
    if (now - state.windowStart >= this.config.windowSeconds * 1000) {
      state.windowStart = now;
      state.failures = 0;
    }
    state.failures += 1;
    if (state.failures <= this.config.maxFailures) return undefined;
    state.blockedUntil = now + this.config.blockSeconds * 1000;
    state.failures = 0;
    return this.config.blockSeconds;
  }

  get tracked(): number {
    return this.addresses.size;
  }
}

export interface SecurityEventSink {
  record(clientAddress: string, reason: string): void;
}

export interface AuthGuard {
  /** For a 401 answer: the answer to send instead (429), or undefined to send the 401. */
  authFailed(clientAddress: string, code: ErrorCode): HttpProblem | undefined;
}

export function createAuthGuard(
  config: AuthFailureLimitConfig,
  metrics: ServiceMetrics,
  events: SecurityEventSink | undefined,
): AuthGuard {
  const limiter = new AuthFailureLimiter(config);
  return {
    authFailed(clientAddress, code) {
      metrics.observeAuthFailure(code);
      const retryAfter = code === 'ERR_AUTH_MISSING' ? undefined : limiter.fail(clientAddress);
      if (retryAfter === undefined) {
        events?.record(clientAddress, code);
        return undefined;
      }
      metrics.observeRateLimited();
      events?.record(clientAddress, 'ERR_RATE_LIMITED');
      return { ...problem('ERR_RATE_LIMITED'), headers: { 'retry-after': String(retryAfter) } };
    },
  };
}
