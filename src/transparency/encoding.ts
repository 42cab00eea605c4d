/**
 * Strict text encodings shared by the C2SP parsers (docs/audit.md, "Checkpoints, cosignatures and proofs:
 * wire formats"). Everything here reads attacker-controlled text: one canonical spelling per value, so two
 * different texts never mean the same thing.
 */
import { DkeError } from '../errors/index.js';

/** The one error of the transparency verifiers; `message` is public and must stay free of input echoes. */
export function invalid(message: string, detail?: string): DkeError {
  return new DkeError('ERR_PROOF_INVALID', { message, ...(detail === undefined ? {} : { detail }) });
}

/** Largest uint64 value the formats carry that we accept: 2^63 - 1 (the Merkle code works below 2^63). */
export const MAX_UINT63 = 2n ** 63n - 1n;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard base64 (RFC 4648 §4) with padding, nothing else: no whitespace, no URL alphabet, and unused
 * bits zero (re-encoding gives the same text), since Node's decoder alone silently skips bad characters.
 */
export function decodeBase64(text: string, what: string): Buffer {
  if (!BASE64.test(text)) throw invalid(`${what} is not canonical base64`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw invalid(`${what} is not canonical base64`);
  return bytes;
}

const DECIMAL = /^(?:0|[1-9][0-9]{0,18})$/;

/** An ASCII decimal with no leading zeros, 0 ≤ n ≤ 2^63 - 1, as bigint. */
export function parseDecimal(text: string, what: string): bigint {
  if (!DECIMAL.test(text)) throw invalid(`${what} is not a decimal number without leading zeros`);
  const value = BigInt(text);
  if (value > MAX_UINT63) throw invalid(`${what} is out of range`);
  return value;
}

/** A whole number 0 ≤ n ≤ 2^63 - 1 given by a caller (number or bigint), as bigint. */
export function toUint63(value: number | bigint, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_UINT63) throw invalid(`${what} is out of range`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} is out of range`);
  }
  return BigInt(value);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Text from bytes or a string, refusing invalid UTF-8 (and lone surrogates in a JS string). */
export function wellFormedText(input: string | Uint8Array, what: string, maxBytes: number): string {
  if (typeof input === 'string') {
    // A lone surrogate is not encodable as UTF-8; the u flag makes this class match only lone ones.
    if (/\p{Surrogate}/u.test(input)) throw invalid(`${what} is not valid UTF-8`);
    if (Buffer.byteLength(input, 'utf8') > maxBytes) throw invalid(`${what} is too large`);
    return input;
  }
  if (!(input instanceof Uint8Array)) throw invalid(`${what} is not text`);
  if (input.length > maxBytes) throw invalid(`${what} is too large`);
  try {
    return UTF8.decode(input);
  } catch {
    throw invalid(`${what} is not valid UTF-8`);
  }
}

/** Whether `text` has an ASCII control character (below U+0020), newline excepted when `allowNewline`. */
export function hasControlCharacter(text: string, allowNewline: boolean): boolean {
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x20 && !(allowNewline && c === 0x0a)) return true;
  }
  return false;
}
