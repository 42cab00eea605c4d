/**
 * Asymmetric holder keys: which algorithms are allowed (BSI TR-02102-1), how they are generated,
 * identified (RFC 7638 thumbprint) and written as recipient strings. See docs/key-files.md.
 */
import {
  generateKeyPairSync,
  createPublicKey,
  createPrivateKey,
  type KeyObject,
  type JsonWebKey,
} from 'node:crypto';
import type { JWK } from 'jose';
import { calculateJwkThumbprint } from 'jose/jwk/thumbprint';
import { DkeError } from '../errors/index.js';
import { fromB64url, toB64url } from './encoding.js';

export type KeySpec = 'P-256' | 'P-384' | 'P-521' | 'RSA-3072' | 'RSA-4096' | 'RSA-2048';
export const NATIVE_KEY_SPECS: readonly KeySpec[] = ['P-256', 'P-384', 'P-521', 'RSA-3072', 'RSA-4096'];
export const DEFAULT_KEY_SPEC: KeySpec = 'P-384';
/** Key-wrapping algorithm (JWA, RFC 7518) used for a holder key. */
export type WrapAlg = 'RSA-OAEP-256' | 'ECDH-ES+A256KW';

export const RECIPIENT_PREFIX = 'dkepub1:';

export function generateHolderKey(spec: KeySpec = DEFAULT_KEY_SPEC): KeyObject {
  if (spec.startsWith('RSA-')) {
    return generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)), publicExponent: 65537 })
      .privateKey;
  }
  return generateKeyPairSync('ec', { namedCurve: spec }).privateKey;
}

/** The key-wrapping algorithm for a key; throws ERR_KEY_TOO_WEAK / ERR_KEY_INVALID per docs/key-files.md. */
export function wrapAlgFor(key: KeyObject, minRsaBits = 3072): WrapAlg {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < minRsaBits) {
      throw new DkeError('ERR_KEY_TOO_WEAK', {
        message: `RSA-${bits} is below the minimum of ${minRsaBits} bits`,
        hint: 'use an RSA key of 3072 bits or more, or an EC key (P-256, P-384, P-521)',
      });
    }
    if (details.publicExponent !== 65537n)
      throw new DkeError('ERR_KEY_INVALID', { message: 'RSA exponent must be 65537' });
    return 'RSA-OAEP-256';
  }
  if (
    key.asymmetricKeyType === 'ec' &&
    ['prime256v1', 'secp384r1', 'secp521r1'].includes(details.namedCurve ?? '')
  ) {
    return 'ECDH-ES+A256KW';
  }
  throw new DkeError('ERR_KEY_INVALID', {
    message: `unsupported key type ${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? ''}`.trim(),
    hint: 'OpenDKE holder keys are RSA (>= 3072 bits) or EC P-256, P-384, P-521',
  });
}

/** The public JWK with only the members RFC 7638 uses (no kid, no alg), so it is canonical. */
export function publicJwk(key: KeyObject): JWK {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }) as JWK;
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n, e: jwk.e };
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

/** A holder's key id: the RFC 7638 JWK SHA-256 thumbprint of its public key, base64url. */
export async function keyIdOf(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(publicJwk(key), 'sha256');
}

export function publicKeyFromJwk(jwk: JWK): KeyObject {
  try {
    return createPublicKey({ key: publicJwkMembers(jwk) as JsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new DkeError('ERR_KEY_INVALID', { message: 'not a valid public JWK', cause });
  }
}

function publicJwkMembers(jwk: JWK): JWK {
  return jwk.kty === 'RSA'
    ? { kty: 'RSA', n: jwk.n, e: jwk.e }
    : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

/** `dkepub1:` + base64url(JSON of the canonical public JWK). */
export function encodeRecipient(key: KeyObject): string {
  return RECIPIENT_PREFIX + toB64url(Buffer.from(JSON.stringify(publicJwk(key)), 'utf8'));
}

export function decodeRecipient(text: string): KeyObject {
  const body = text.startsWith(RECIPIENT_PREFIX)
    ? fromB64url(text.slice(RECIPIENT_PREFIX.length))
    : undefined;
  if (body === undefined) {
    throw new DkeError('ERR_KEY_INVALID', { message: 'not a valid dkepub1 recipient string' });
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new DkeError('ERR_KEY_INVALID', { message: 'not a valid dkepub1 recipient string', cause });
  }
  if (typeof jwk !== 'object' || jwk === null)
    throw new DkeError('ERR_KEY_INVALID', { message: 'not a valid dkepub1 recipient string' });
  return publicKeyFromJwk(jwk);
}

/** Reads a PEM public or private key (SPKI, PKCS#1, PKCS#8, SEC1); returns the public half. */
export function publicKeyFromPem(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch {
    try {
      return createPublicKey(createPrivateKey(pem));
    } catch (cause) {
      throw new DkeError('ERR_KEY_INVALID', { message: 'not a PEM public or private key', cause });
    }
  }
}
