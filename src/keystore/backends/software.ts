/**
 * The software backend: today's behaviour. The private key is unsealed from the store into node:crypto
 * KeyObjects; both operations run on libuv's thread pool through WebCrypto, so the event loop stays free.
 */
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import type { KeySpec } from '../../crypto/holder-keys.js';
import { rsaOaep256Decrypt } from '../../crypto/rsa-oaep.js';
import { DkeError } from '../../errors/index.js';
import { assertPeerOnCurve, curveOf, operationFailed, type PrivateKeyOperator } from './operator.js';

const ecdhKeys = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey>>();

function ecdhKeyFor(key: KeyObject, curve: string): Promise<webcrypto.CryptoKey> {
  let cached = ecdhKeys.get(key);
  if (cached === undefined) {
    const der = key.export({ format: 'der', type: 'pkcs8' });
    cached = webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDH', namedCurve: curve }, false, [
      'deriveBits',
    ]);
    der.fill(0);
    ecdhKeys.set(key, cached);
  }
  return cached;
}

/** Field size in bits, the length of Z. */
const FIELD_BITS = { 'P-256': 256, 'P-384': 384, 'P-521': 521 } as const;

export class SoftwareKeyOperator implements PrivateKeyOperator {
  readonly backend = 'software';
  readonly publicKey: KeyObject;
  private next = 0;

  /**
   * `handles`: independent KeyObjects of the same private key; operations go round robin over them,
   * because OpenSSL serializes private-key operations on one handle (src/keystore/key-manager.ts).
   */
  constructor(
    readonly spec: KeySpec,
    private readonly handles: readonly KeyObject[],
  ) {
    const first = handles[0];
    if (first === undefined || first.type !== 'private') {
      throw new DkeError('ERR_INTERNAL', { detail: 'a software operator needs a private key' });
    }
    this.publicKey = createPublicKey(first);
  }

  async decryptRsaOaepSha256(ciphertext: Uint8Array): Promise<Buffer> {
    if (!this.spec.startsWith('RSA-')) throw operationFailed(`${this.spec} keys do not decrypt RSA-OAEP`);
    try {
      return await rsaOaep256Decrypt(this.handle(), ciphertext);
    } catch (cause) {
      throw operationFailed('RSA-OAEP-256 decryption failed', cause);
    }
  }

  async deriveEcdh(peerPublic: KeyObject): Promise<Buffer> {
    const curve = curveOf(this.spec);
    if (curve === undefined) throw operationFailed(`${this.spec} keys do not derive ECDH secrets`);
    assertPeerOnCurve(peerPublic, curve);
    try {
      const peer = await webcrypto.subtle.importKey(
        'spki',
        peerPublic.export({ format: 'der', type: 'spki' }),
        { name: 'ECDH', namedCurve: curve },
        false,
        [],
      );
      const bits = await webcrypto.subtle.deriveBits(
        { name: 'ECDH', public: peer },
        await ecdhKeyFor(this.handle(), curve),
        // Whole bytes: P-521's 521 bits are 66 bytes, as in the JWE Concat KDF input.
        Math.ceil(FIELD_BITS[curve] / 8) * 8,
      );
      return Buffer.from(bits);
    } catch (cause) {
      throw operationFailed('ECDH derivation failed', cause);
    }
  }

  private handle(): KeyObject {
    const handle = this.handles[this.next] as KeyObject;
    this.next = (this.next + 1) % this.handles.length;
    return handle;
  }
}
