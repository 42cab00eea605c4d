/** Standard base64 (RFC 4648 §4, padded), as the Microsoft DKE protocol uses it, parsed strictly. */
const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Undefined for anything that is not canonical padded base64. */
export function fromStdBase64(text: string): Buffer | undefined {
  if (!STD_B64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** base64url (JWK members) → padded standard base64. */
export function b64urlToStdBase64(text: string): string {
  return Buffer.from(text, 'base64url').toString('base64');
}

/** A JWK `e` (base64url big-endian) as the JSON number the protocol wants. */
export function exponentNumber(e: string): number {
  const bytes = Buffer.from(e, 'base64url');
  if (bytes.length === 0 || bytes.length > 6) throw new RangeError('RSA exponent out of range');
  return bytes.readUIntBE(0, bytes.length);
}

/** `yyyy-MM-ddTHH:mm:ss` in UTC, no zone designator (the protocol's cache.exp). */
export function cacheExpiry(now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toISOString().slice(0, 19);
}
