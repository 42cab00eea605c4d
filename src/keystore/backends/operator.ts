/**
 * The key-backend seam (docs/hsm.md): a private key that performs its operations instead of handing out its
 * material. Protocol adapters and the audited-unwrap path use only this, so they work the same whether
 * the key is a software key unsealed from the store or an object in a PKCS#11 token.
 *
 * Contract of both operations: input that does not decrypt or derive under the key rejects with a
 * DkeError ERR_DECRYPTION_FAILED (the adapters turn it into their protocol's refusal); a backend that
 * cannot serve (token gone, session lost, login refused) rejects with ERR_HSM_UNAVAILABLE (503), which
 * the adapters pass through unchanged, so a request fails closed instead of looking like bad input.
 */
import type { KeyObject } from 'node:crypto';
import { DkeError, isDkeError } from '../../errors/index.js';
import type { KeySpec } from '../../crypto/holder-keys.js';

/** Where a key version's private key lives: sealed in the store (`software`) or in a token (`pkcs11`). */
export type KeyBackendKind = 'software' | 'pkcs11';
export const KEY_BACKEND_KINDS: readonly KeyBackendKind[] = ['software', 'pkcs11'];

export interface PrivateKeyOperator {
  readonly backend: KeyBackendKind;
  readonly spec: KeySpec;
  /** The public half, as the token or the store holds it. */
  readonly publicKey: KeyObject;
  /** RSA-OAEP with SHA-256 and MGF1-SHA-256, empty label. RSA keys only. */
  decryptRsaOaepSha256(ciphertext: Uint8Array): Promise<Buffer>;
  /**
   * The raw ECDH shared secret Z (the x coordinate, field size bytes) with a peer public key on the key's
   * curve: the input of the JWE Concat KDF (RFC 7518 §4.6). EC keys only.
   */
  deriveEcdh(peerPublic: KeyObject): Promise<Buffer>;
}

/** Refusal for input that does not decrypt/derive under the key; `detail` is internal only. */
export function operationFailed(detail: string, cause?: unknown): DkeError {
  return new DkeError('ERR_DECRYPTION_FAILED', { detail, ...(cause === undefined ? {} : { cause }) });
}

/** True for the errors that mean "the key service cannot serve now", which callers must pass through. */
export function isBackendUnavailable(error: unknown): error is DkeError {
  return isDkeError(error, 'ERR_HSM_UNAVAILABLE');
}

/** The curve a KeySpec names, for EC specs. */
export function curveOf(spec: KeySpec): 'P-256' | 'P-384' | 'P-521' | undefined {
  return spec === 'P-256' || spec === 'P-384' || spec === 'P-521' ? spec : undefined;
}

/** Throws ERR_DECRYPTION_FAILED unless `peer` is a public EC key on `curve`. */
export function assertPeerOnCurve(peer: KeyObject, curve: 'P-256' | 'P-384' | 'P-521'): void {
  const nodeCurve = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' }[curve];
  if (
    peer.type !== 'public' ||
    peer.asymmetricKeyType !== 'ec' ||
    peer.asymmetricKeyDetails?.namedCurve !== nodeCurve
  ) {
    throw operationFailed(`peer public key is not an EC key on ${curve}`);
  }
}
