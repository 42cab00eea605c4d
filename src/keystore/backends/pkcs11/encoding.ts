/**
 * Encodings between node:crypto keys and PKCS#11 attributes: EC curve parameters (DER OIDs), EC points
 * (raw uncompressed or wrapped in a DER OCTET STRING, as tokens differ), public keys as KeyObjects.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { DkeError } from '../../../errors/index.js';

export type Curve = 'P-256' | 'P-384' | 'P-521';

/** CKA_EC_PARAMS: the named curve's OID, DER. */
export const EC_PARAMS: Readonly<Record<Curve, Buffer>> = {
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
  'P-521': Buffer.from('06052b81040023', 'hex'),
};

/** Bytes of one coordinate (and of the ECDH shared secret). */
export const FIELD_BYTES: Readonly<Record<Curve, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

export function curveOfParams(params: Buffer): Curve | undefined {
  return (Object.keys(EC_PARAMS) as Curve[]).find((curve) => EC_PARAMS[curve].equals(params));
}

/** The uncompressed point 04||X||Y from CKA_EC_POINT, which tokens give raw or DER-wrapped. */
export function rawPoint(value: Buffer, curve: Curve): Buffer {
  const length = 1 + 2 * FIELD_BYTES[curve];
  // The point itself starts with 0x04 too; its exact length tells the two forms apart.
  if (value.length === length && value[0] === 0x04) return value;
  const header = length < 0x80 ? 2 : 3;
  if (value.length === header + length && value[0] === 0x04) {
    const declared = header === 2 ? value[1] : value[1] === 0x81 ? value[2] : -1;
    const point = value.subarray(header);
    if (declared === length && point[0] === 0x04) return point;
  }
  throw new DkeError('ERR_INTERNAL', { detail: `CKA_EC_POINT is not an uncompressed ${curve} point` });
}

/** A raw point wrapped in a DER OCTET STRING, the form PKCS#11 v2.40 specifies for CKA_EC_POINT. */
export function derPoint(raw: Buffer): Buffer {
  const length = raw.length < 0x80 ? Buffer.of(raw.length) : Buffer.of(0x81, raw.length);
  return Buffer.concat([Buffer.of(0x04), length, raw]);
}

/** The uncompressed point of an EC public key. */
export function pointOf(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) {
    throw new DkeError('ERR_INTERNAL', { detail: 'not an EC key' });
  }
  return Buffer.concat([Buffer.of(0x04), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
}

export function ecPublicKey(curve: Curve, raw: Buffer): KeyObject {
  const size = FIELD_BYTES[curve];
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: curve,
      x: raw.subarray(1, 1 + size).toString('base64url'),
      y: raw.subarray(1 + size).toString('base64url'),
    },
    format: 'jwk',
  });
}

export function rsaPublicKey(modulus: Buffer, exponent: Buffer): KeyObject {
  return createPublicKey({
    key: {
      kty: 'RSA',
      n: unsigned(modulus).toString('base64url'),
      e: unsigned(exponent).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** Big-endian integers without leading zero bytes, as JWK wants them. */
function unsigned(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return value.subarray(start);
}
