/**
 * Compact JWEs built by hand (RFC 7516 §5.1, RSA-OAEP-256 + A256GCM) from the exact protected-header text
 * given, so tests and vectors can make headers that jose's writer never would: repeated member names,
 * a `zip` member with a deflated plaintext. The JWE is otherwise correct: it decrypts with the holder's key.
 */
import { constants, createCipheriv, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

export function handRsaJwe(protectedHeaderJson: string, plaintext: Uint8Array, publicKey: KeyObject): string {
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const encryptedKey = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    cek,
  );
  const encodedHeader = b64url(Buffer.from(protectedHeaderJson, 'utf8'));
  // The AAD of a compact JWE is the ASCII of the encoded protected header (RFC 7516 §5.1 step 14).
  const cipher = createCipheriv('aes-256-gcm', cek, iv).setAAD(Buffer.from(encodedHeader, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [
    encodedHeader,
    b64url(encryptedKey),
    b64url(iv),
    b64url(ciphertext),
    b64url(cipher.getAuthTag()),
  ].join('.');
}

/** The members OpenDKE writes, as JSON text, with `extra` text spliced in before the closing brace. */
export function shareHeaderJson(kid: string, oid: string, extra = ''): string {
  return `{"alg":"RSA-OAEP-256","enc":"A256GCM","typ":"opendke-share","kid":"${kid}","oid":"${oid}"${extra}}`;
}
