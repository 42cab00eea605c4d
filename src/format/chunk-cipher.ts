/**
 * STREAM-style chunked AES-256-GCM (docs/format.md §6). The nonce is an 11-byte big-endian chunk counter
 * and a last-chunk flag byte, so reordering, dropping, duplicating or truncating chunks fails to verify.
 * Pure functions on one chunk each, so chunks can be processed on several threads.
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
  key: Buffer,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
  target: Buffer,
  offset: number,
): number {
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(index, last));
  let at = offset + cipher.update(plaintext).copy(target, offset);
  at += cipher.final().copy(target, at);
  at += cipher.getAuthTag().copy(target, at);
  return at - offset;
}

/** Opens one chunk; any failure is the vague ERR_DECRYPTION_FAILED. Returns nothing unauthenticated. */
export function openChunk(key: Buffer, index: number, last: boolean, sealed: Uint8Array): Buffer {
  if (sealed.length < TAG_LENGTH)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'chunk shorter than tag' });
  const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(index, last));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  const head = decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    head.fill(0);
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: `chunk ${index} failed authentication` });
  }
}
