/**
 * What happens to a failed authentication (docs/config.md `server.authFailureLimit`, docs/audit.md): it is
 * counted in metrics by reason, recorded as a security event, and counted against its client address and,
 * for a token whose signature verified but that was refused afterwards (expired, wrong audience, ...),
 * against its issuer+subject too. An address, or a subject, with more than `maxFailures` invalid tokens
 * within `windowSeconds` is answered 429 ERR_RATE_LIMITED (with Retry-After) instead of 401 for
 * `blockSeconds`: the subject limit catches one identity's failures spread over many addresses.
 *
 * Only failures are limited: a request whose token is valid is served whatever its address did, so users
 * behind the same NAT or proxy as an attacker keep working. A request without any token
 * (ERR_AUTH_MISSING) is counted and recorded but never limited: clients need its 401 challenge to find the
 * authority, and it costs the service nothing. The client address is Fastify's `request.ip`: the socket's
 * peer, or the X-Forwarded-For entry of a `server.trustedProxies` proxy (never believed from anyone else).
 *
 * Only a verified token names a subject (src/auth/refused-token.ts): the claims of a token whose signature
 * did not verify are whatever its sender wrote, and counting them would let anyone lock a victim out.
 */
import type { ErrorCode } from '../errors/index.js';
import type { VerifiedToken } from '../auth/index.js';
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
 * Failures per key (a client address, or an issuer+subject) in fixed windows. Memory is bounded: at most
 * `maxTrackedAddresses` entries, kept in least-recently-failed order (a Map re-inserted on each failure);
 * the oldest is evicted past the cap.
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
  record(clientAddress: string, reason: string, token?: VerifiedToken): void;
}

export interface AuthGuard {
  /**
   * For a 401 answer: the answer to send instead (429), or undefined to send the 401. `token` is whose
   * verified token was refused (verifiedTokenOf), if any.
   */
  authFailed(clientAddress: string, code: ErrorCode, token?: VerifiedToken): HttpProblem | undefined;
}

/** One limiter key per issuer+subject; JSON keeps the two apart whatever characters they contain. */
function subjectKey(token: VerifiedToken): string {
  return JSON.stringify([token.issuer, token.subject]);
}

export function createAuthGuard(
  config: AuthFailureLimitConfig,
  metrics: ServiceMetrics,
  events: SecurityEventSink | undefined,
): AuthGuard {
  // Two limiters, each bounded by maxTrackedAddresses: a flood of distinct subjects cannot evict addresses.
  const byAddress = new AuthFailureLimiter(config);
  const bySubject = new AuthFailureLimiter(config);
  return {
    authFailed(clientAddress, code, token) {
      metrics.observeAuthFailure(code);
      if (code === 'ERR_AUTH_MISSING') {
        events?.record(clientAddress, code);
        return undefined;
      }
      // Both count every failure, whatever the other decides.
      const addressWait = byAddress.fail(clientAddress);
      const subjectWait = token === undefined ? undefined : bySubject.fail(subjectKey(token));
      if (addressWait === undefined && subjectWait === undefined) {
        events?.record(clientAddress, code, token);
        return undefined;
      }
      if (addressWait !== undefined) metrics.observeRateLimited('address');
      if (subjectWait !== undefined) metrics.observeRateLimited('subject');
      events?.record(clientAddress, 'ERR_RATE_LIMITED', token);
      const retryAfter = Math.max(addressWait ?? 0, subjectWait ?? 0);
      return { ...problem('ERR_RATE_LIMITED'), headers: { 'retry-after': String(retryAfter) } };
    },
  };
}
