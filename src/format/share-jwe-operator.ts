/**
 * Unwrapping a share JWE (share-jwe.ts, docs/format.md §4) with a PrivateKeyOperator instead of a private
 * KeyObject, so the key may live in a token (docs/hsm.md). Only the key-management step needs the private
 * key and goes through the operator: RSA-OAEP-256 decrypts the content-encryption key; ECDH-ES+A256KW
 * derives Z, then the Concat KDF (RFC 7518 §4.6.2) and AES key unwrap (RFC 3394) run here. Content
 * decryption (A256GCM over the protected header as AAD) runs here as well. The result is the same share
 * and header `unwrapShare` gives with the private key; the tests compare the two on every key type.
 */
import crypto, { createPublicKey, type KeyObject } from 'node:crypto';
import { fromB64url } from '../crypto/encoding.js';
import { wrapAlgFor } from '../crypto/holder-keys.js';
import { DkeError } from '../errors/index.js';
import { isBackendUnavailable, type PrivateKeyOperator } from '../keystore/backends/operator.js';
import {
  assertShareBinding,
  readShareHeader,
  SHARE_LENGTH,
  type ShareBinding,
  type ShareHeader,
} from './share-jwe.js';

const CEK_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AES_KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const CURVES = new Set(['P-256', 'P-384', 'P-521']);

function unwrapFailed(detail: string, cause?: unknown): DkeError {
  return new DkeError('ERR_HOLDER_UNWRAP_FAILED', { detail, ...(cause === undefined ? {} : { cause }) });
}

/** The same contract as unwrapShare; a backend that cannot serve fails with ERR_HSM_UNAVAILABLE (503). */
export async function unwrapShareWith(
  jwe: string,
  operator: PrivateKeyOperator,
  expected?: Partial<ShareBinding>,
): Promise<{ share: Buffer; header: ShareHeader }> {
  const header = readShareHeader(jwe);
  assertShareBinding(header, expected);
  if (wrapAlgFor(operator.publicKey, 2048) !== header.alg) {
    throw unwrapFailed('JWE alg does not match the key type');
  }
  const [protectedPart, encryptedKeyPart, ivPart, ciphertextPart, tagPart] = jwe.split('.') as [
    string,
    string,
    string,
    string,
    string,
  ];
  const encryptedKey = fromB64url(encryptedKeyPart);
  const iv = fromB64url(ivPart);
  const ciphertext = fromB64url(ciphertextPart);
  const tag = fromB64url(tagPart);
  if (encryptedKey === undefined || iv === undefined || ciphertext === undefined || tag === undefined) {
    throw unwrapFailed('JWE part is not base64url');
  }
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
    throw unwrapFailed('JWE iv or tag has the wrong length');

  let cek: Buffer;
  try {
    cek =
      header.alg === 'RSA-OAEP-256'
        ? await operator.decryptRsaOaepSha256(encryptedKey)
        : await ecdhEsA256kw(operator, protectedMembers(protectedPart), encryptedKey);
  } catch (cause) {
    if (isBackendUnavailable(cause)) throw cause;
    throw unwrapFailed('JWE key management failed', cause);
  }
  if (cek.length !== CEK_BYTES) throw unwrapFailed('JWE content key is not 32 bytes');

  let share: Buffer;
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(protectedPart, 'ascii'));
    decipher.setAuthTag(tag);
    share = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (cause) {
    throw unwrapFailed('JWE did not decrypt', cause);
  } finally {
    cek.fill(0);
  }
  if (share.length !== SHARE_LENGTH) throw unwrapFailed('share is not 32 bytes');
  return { share, header };
}

/** The protected header's members; readShareHeader has checked it is strict JSON of an object. */
function protectedMembers(encoded: string): Record<string, unknown> {
  return JSON.parse((fromB64url(encoded) as Buffer).toString('utf8')) as Record<string, unknown>;
}

async function ecdhEsA256kw(
  operator: PrivateKeyOperator,
  header: Record<string, unknown>,
  encryptedKey: Buffer,
): Promise<Buffer> {
  const epk = header.epk;
  if (typeof epk !== 'object' || epk === null || Array.isArray(epk)) throw unwrapFailed('JWE epk missing');
  const { kty, crv, x, y } = epk as Record<string, unknown>;
  if (
    kty !== 'EC' ||
    typeof crv !== 'string' ||
    !CURVES.has(crv) ||
    typeof x !== 'string' ||
    typeof y !== 'string'
  ) {
    throw unwrapFailed('JWE epk is not an EC public key');
  }
  let peer: KeyObject;
  try {
    // OpenSSL refuses a point that is not on the curve here (no invalid-curve attack through the token).
    peer = createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
  } catch (cause) {
    throw unwrapFailed('JWE epk is not a valid point', cause);
  }
  const apu = optionalB64url(header.apu, 'apu');
  const apv = optionalB64url(header.apv, 'apv');
  const z = await operator.deriveEcdh(peer);
  try {
    const kek = concatKdf(z, 'ECDH-ES+A256KW', apu, apv);
    try {
      const decipher = crypto.createDecipheriv('id-aes256-wrap', kek, AES_KW_IV);
      return Buffer.concat([decipher.update(encryptedKey), decipher.final()]);
    } finally {
      kek.fill(0);
    }
  } finally {
    z.fill(0);
  }
}

function optionalB64url(value: unknown, name: string): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  const decoded = typeof value === 'string' ? fromB64url(value) : undefined;
  if (decoded === undefined) throw unwrapFailed(`JWE ${name} is not base64url`);
  return decoded;
}

/** RFC 7518 §4.6.2 (NIST SP 800-56A Concat KDF, SHA-256) for a 256-bit key: one round. */
function concatKdf(z: Buffer, algorithm: string, apu: Buffer, apv: Buffer): Buffer {
  const lengthPrefixed = (value: Buffer): Buffer => Buffer.concat([uint32(value.length), value]);
  return crypto
    .createHash('sha256')
    .update(uint32(1))
    .update(z)
    .update(lengthPrefixed(Buffer.from(algorithm, 'ascii')))
    .update(lengthPrefixed(apu))
    .update(lengthPrefixed(apv))
    .update(uint32(256))
    .digest();
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}
