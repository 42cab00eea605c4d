/** Maps jose's errors to ERR_AUTH_INVALID with a public message that names the check, never library text. */
import { errors } from 'jose';
import { DkeError } from '../errors/index.js';

function publicMessage(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    // `claim` is the registered claim name jose checked (aud, nbf, iat, or a required claim), never a value.
    return error.claim === 'nbf' ? 'token not yet valid' : `token claim "${error.claim}" not accepted`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not accepted';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature not accepted';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'token signing key not known';
  }
  return 'invalid token';
}

export function tokenError(error: unknown): DkeError {
  if (error instanceof DkeError) return error;
  const detail =
    error instanceof errors.JOSEError
      ? `${error.code}: ${error.message}`
      : error instanceof Error
        ? error.message
        : String(error);
  return new DkeError('ERR_AUTH_INVALID', { message: publicMessage(error), detail, cause: error });
}
