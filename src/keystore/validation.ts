/** Checks on the values callers hand the key manager: key names, object ids, cache lifetimes. */
import { DkeError } from '../errors/index.js';
import { fromB64url } from '../crypto/encoding.js';

/** Case-sensitive; safe in URLs, file names and the MS DKE key URL path. */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** One year: the longest a client may be told to cache a public key. */
export const MAX_CACHE_SECONDS = 365 * 24 * 3600;
/**
 * Names that would collide with the key service's own routes: Microsoft DKE keys live at `/{name}`, so
 * a key called `metrics` or `admin` would be unreachable or shadow a route. Refused in any letter case.
 */
export const RESERVED_KEY_NAMES: readonly string[] = ['keys', 'admin', 'healthz', 'metrics', 'console'];

/** A name for a new key: valid and not reserved. */
export function assertNewKeyName(name: unknown): asserts name is string {
  assertKeyName(name);
  if (RESERVED_KEY_NAMES.includes(name.toLowerCase())) {
    throw new DkeError('ERR_BAD_REQUEST', {
      message: `key name '${name}' is reserved (${RESERVED_KEY_NAMES.join(', ')})`,
    });
  }
}

/** Object ids are 16 bytes in the OpenDKE format; allow up to 64 for other protocols' resource ids. */
const MAX_OBJECT_ID_BYTES = 64;

export function isKeyName(name: unknown): name is string {
  return typeof name === 'string' && KEY_NAME_PATTERN.test(name);
}

export function assertKeyName(name: unknown): asserts name is string {
  if (!isKeyName(name)) {
    throw new DkeError('ERR_BAD_REQUEST', {
      message: 'invalid key name',
      hint: 'key names are 1-64 characters: letters, digits, ".", "_" and "-", starting with a letter or digit',
    });
  }
}

/**
 * Object ids are compared as strings, so only the canonical base64url form is accepted: otherwise a
 * second spelling of the same bytes could slip past a revocation.
 */
export function assertObjectId(objectId: unknown): asserts objectId is string {
  const bytes = typeof objectId === 'string' ? fromB64url(objectId) : undefined;
  if (bytes === undefined || bytes.length === 0 || bytes.length > MAX_OBJECT_ID_BYTES) {
    throw new DkeError('ERR_BAD_REQUEST', {
      message: 'invalid object id (expected base64url without padding)',
    });
  }
}

/** undefined or 0: no caching (stored as null); otherwise whole seconds up to one year. */
export function normalizeCacheSeconds(seconds: number | undefined): number | null {
  if (seconds === undefined || seconds === 0) return null;
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > MAX_CACHE_SECONDS) {
    throw new DkeError('ERR_BAD_REQUEST', {
      message: `cache seconds must be a whole number from 0 to ${MAX_CACHE_SECONDS}`,
    });
  }
  return seconds;
}
