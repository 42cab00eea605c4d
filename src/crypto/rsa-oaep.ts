/**
 * RSA-OAEP-256 decryption (OAEP with SHA-256 and MGF1-SHA-256, empty label) off the event loop: WebCrypto
 * runs it on libuv's thread pool, so a key service answers on every core instead of one. The imported
 * CryptoKey is cached per KeyObject (the key store caches KeyObjects per key version).
 */
import { webcrypto, type KeyObject } from 'node:crypto';

const cryptoKeys = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey>>();

function cryptoKeyFor(key: KeyObject): Promise<webcrypto.CryptoKey> {
  let cached = cryptoKeys.get(key);
  if (cached === undefined) {
    const der = key.export({ format: 'der', type: 'pkcs8' });
    cached = webcrypto.subtle.importKey('pkcs8', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, [
      'decrypt',
    ]);
    cryptoKeys.set(key, cached);
  }
  return cached;
}

/** Rejects (with WebCrypto's OperationError) when the ciphertext does not decrypt under the key. */
export async function rsaOaep256Decrypt(key: KeyObject, ciphertext: Uint8Array): Promise<Buffer> {
  const plaintext = await webcrypto.subtle.decrypt({ name: 'RSA-OAEP' }, await cryptoKeyFor(key), ciphertext);
  return Buffer.from(plaintext);
}
