/**
 * A refusal of a token whose signature verified against a configured issuer (docs/auth.md#refused-tokens):
 * expired, not yet valid, wrong audience, lifetime too long, tenant, client, scope or role not accepted.
 * Such a token was really issued to its subject, so the refusal names issuer and subject for the failure
 * limiter and the security events; the public message stays the plain ERR_AUTH_INVALID one, never naming it.
 * Tokens that did not verify (bad signature, key, algorithm, unknown issuer) never name anyone: their
 * claims are whatever the sender wrote.
 */
import type { JWTPayload } from 'jose';
import { DkeError } from '../errors/index.js';

/** Bound of the subject text carried (and stored in security events): nobody can bloat memory or rows. */
export const MAX_REFUSED_SUBJECT_CHARS = 256;

export interface VerifiedToken {
  /** The configured, accepted issuer the signature verified against. */
  readonly issuer: string;
  /** The token's `sub`, non-blank, cut to MAX_REFUSED_SUBJECT_CHARS. */
  readonly subject: string;
}

export class RefusedTokenError extends DkeError {
  constructor(
    refusal: DkeError,
    readonly token: VerifiedToken,
  ) {
    super('ERR_AUTH_INVALID', {
      message: refusal.message,
      ...(refusal.detail === undefined ? {} : { detail: refusal.detail }),
      cause: refusal.cause ?? refusal,
    });
  }
}

/**
 * `refusal` of a token verified against `issuer` with `payload`: a RefusedTokenError naming its subject, or
 * the refusal unchanged when the payload has no usable subject.
 */
export function refusedToken(refusal: DkeError, issuer: string, payload: JWTPayload): DkeError {
  if (refusal.code !== 'ERR_AUTH_INVALID' || refusal instanceof RefusedTokenError) return refusal;
  const { sub } = payload;
  if (typeof sub !== 'string' || sub.trim() === '') return refusal;
  return new RefusedTokenError(refusal, { issuer, subject: sub.slice(0, MAX_REFUSED_SUBJECT_CHARS) });
}

/** The verified issuer and subject of a refused token, or undefined for any other error. */
export function verifiedTokenOf(error: unknown): VerifiedToken | undefined {
  return error instanceof RefusedTokenError ? error.token : undefined;
}
