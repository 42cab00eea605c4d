/**
 * STREAM-style chunked AES-256-GCM (docs/format.md §6). The nonce is an 11-byte big-endian chunk counter
 * and a last-chunk flag byte, so reordering, dropping, duplicating or truncating chunks fails to verify.
 * Pure functions on one chunk each, writing into a caller's buffer, so chunks can be processed on several
 * threads with recycled buffers (src/client/chunk-workers.ts).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DkeError } from '../errors/index.js';
import { NONCE_LENGTH, TAG_LENGTH } from './constants.js';

const MAX_COUNTER = 2 ** 53 - 1; // far beyond any real file; keeps the counter an exact JS number

/** nonce = chunk index as 11 big-endian bytes || 0x01 for the last chunk, 0x00 otherwise. */
export function chunkNonce(index: number, last: boolean): Buffer {
  if (!Number.isSafeInteger(index) || index < 0 || index > MAX_COUNTER) {
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'chunk counter out of range' });
  }
  const nonce = Buffer.alloc(NONCE_LENGTH);
  nonce.writeUIntBE(Math.floor(index / 2 ** 32), 1, 6); // counter bits 32..79 (byte 0 = bits 80..87, zero)
  nonce.writeUInt32BE(index % 2 ** 32, 7); // counter bits 0..31
  nonce[NONCE_LENGTH - 1] = last ? 1 : 0;
  return nonce;
}

/** Seals one chunk into `target` at `offset` (ciphertext then tag); returns the bytes written. */
export function sealChunkInto(
  key: Uint8Array,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
  target: Uint8Array,
  offset = 0,
): number {
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(index, last));
  let at = offset;
  for (const part of [cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]) {
    target.set(part, at);
    at += part.length;
  }
  return at - offset;
}

/**
 * Opens one chunk into `target` (at least the plaintext's length); returns the plaintext length. Any
 * failure is the vague ERR_DECRYPTION_FAILED, and nothing unauthenticated reaches `target`.
 */
export function openChunkInto(
  key: Uint8Array,
  index: number,
  last: boolean,
  sealed: Uint8Array,
  target: Uint8Array,
): number {
  if (sealed.length < TAG_LENGTH)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'chunk shorter than tag' });
  const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(index, last));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  const head = decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
  let tail: Buffer;
  try {
    tail = decipher.final();
  } catch {
    head.fill(0);
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: `chunk ${index} failed authentication` });
  }
  // Only now, authenticated, does the plaintext reach the caller; the cipher's own copy is wiped.
  target.set(head, 0);
  target.set(tail, head.length);
  head.fill(0);
  return head.length + tail.length;
}
