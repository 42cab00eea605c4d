/** The `Authorization: Bearer <token>` header (RFC 6750 §2.1). */
import { DkeError } from '../errors/index.js';

/** Tokens beyond this size are refused before any parsing; real access tokens are a few KiB. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

// RFC 6750 b64token; the scheme name is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token of a bearer header. Throws ERR_AUTH_MISSING when there is no bearer token. */
export function bearerToken(header: string | undefined): string {
  if (typeof header !== 'string' || header.trim() === '') {
    throw new DkeError('ERR_AUTH_MISSING', { message: 'authentication required: no Authorization header' });
  }
  const match = BEARER.exec(header);
  if (!match?.[1]) {
    throw new DkeError('ERR_AUTH_MISSING', {
      message: 'authentication required: expected Authorization: Bearer <token>',
    });
  }
  if (match[1].length > MAX_TOKEN_LENGTH) {
    throw new DkeError('ERR_AUTH_INVALID', {
      message: 'token too large',
      detail: `${match[1].length} characters`,
    });
  }
  return match[1];
}
