/**
 * STREAM-style chunked AES-256-GCM (docs/format.md §6). The nonce is an 11-byte big-endian chunk counter
 * and a last-chunk flag byte, so reordering, dropping, duplicating or truncating chunks fails to verify.
 *
 * The AEAD runs through WebCrypto: Node runs each AES-GCM job on libuv's thread pool, so chunks in flight
 * use every core while the caller reads and writes. WebCrypto's output is ciphertext || tag, exactly a
 * sealed chunk, and its decrypt releases nothing unless the tag verified. Each job copies its input when
 * the call is made, so the caller may reuse its buffer as soon as the call returns.
 */
import { webcrypto } from 'node:crypto';
import { DkeError } from '../errors/index.js';
import { NONCE_LENGTH, TAG_LENGTH } from './constants.js';

const MAX_COUNTER = 2 ** 53 - 1; // far beyond any real file; keeps the counter an exact JS number

export type ChunkKey = webcrypto.CryptoKey;

/** The payload key as a non-extractable WebCrypto key; the caller zeroes its copy of the bytes. */
export function importChunkKey(payloadKey: Uint8Array, use: 'seal' | 'open'): Promise<ChunkKey> {
  return webcrypto.subtle.importKey('raw', payloadKey, { name: 'AES-GCM' }, false, [
    use === 'seal' ? 'encrypt' : 'decrypt',
  ]);
}

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

/** Seals one chunk: ciphertext || tag. */
export async function sealChunk(
  key: ChunkKey,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
): Promise<Buffer> {
  const params = { name: 'AES-GCM', iv: chunkNonce(index, last), tagLength: TAG_LENGTH * 8 };
  try {
    return Buffer.from(await webcrypto.subtle.encrypt(params, key, plaintext));
  } catch (cause) {
    throw new DkeError('ERR_INTERNAL', { detail: `sealing chunk ${index} failed`, cause });
  }
}

/** Opens one chunk; any failure is the vague ERR_DECRYPTION_FAILED. Returns nothing unauthenticated. */
export async function openChunk(
  key: ChunkKey,
  index: number,
  last: boolean,
  sealed: Uint8Array,
): Promise<Buffer> {
  if (sealed.length < TAG_LENGTH)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'chunk shorter than tag' });
  const params = { name: 'AES-GCM', iv: chunkNonce(index, last), tagLength: TAG_LENGTH * 8 };
  try {
    return Buffer.from(await webcrypto.subtle.decrypt(params, key, sealed));
  } catch {
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: `chunk ${index} failed authentication` });
  }
}
