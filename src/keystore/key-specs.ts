/**
 * Which key types each protocol may use (docs/keys.md "Key types"), how a key's type is recognised and
 * how new keys are generated. Native keys follow BSI TR-02102-1 (RSA >= 3072 or NIST EC); Microsoft DKE
 * clients only handle RSA, and Microsoft documents RSA-2048, so that is the ms-dke default; larger RSA
 * keys are used only when asked for explicitly.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { DkeError } from '../errors/index.js';
import { NATIVE_KEY_SPECS, type KeySpec } from '../crypto/holder-keys.js';
import type { KeyProtocol } from '../service/contracts.js';

export const DEFAULT_SPEC: Readonly<Record<KeyProtocol, KeySpec>> = {
  native: 'RSA-3072',
  'ms-dke': 'RSA-2048',
};
export const PROTOCOL_SPECS: Readonly<Record<KeyProtocol, readonly KeySpec[]>> = {
  native: NATIVE_KEY_SPECS,
  'ms-dke': ['RSA-2048', 'RSA-3072', 'RSA-4096'],
};
const ALL_SPECS: readonly KeySpec[] = ['P-256', 'P-384', 'P-521', 'RSA-2048', 'RSA-3072', 'RSA-4096'];
const CURVE_SPECS: Readonly<Record<string, KeySpec>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

export function isKeySpec(value: unknown): value is KeySpec {
  return typeof value === 'string' && (ALL_SPECS as readonly string[]).includes(value);
}

/** Throws ERR_KEY_TOO_WEAK (RSA-2048 for native) or ERR_KEY_INVALID when `spec` is not for `protocol`. */
export function assertSpecAllowed(protocol: KeyProtocol, spec: KeySpec): void {
  if (PROTOCOL_SPECS[protocol].includes(spec)) return;
  if (protocol === 'native' && spec === 'RSA-2048') {
    throw new DkeError('ERR_KEY_TOO_WEAK', {
      message: 'RSA-2048 is below the minimum of 3072 bits for native keys',
      hint: 'use RSA-3072, RSA-4096, P-256, P-384 or P-521 (RSA-2048 is for ms-dke keys only)',
    });
  }
  throw new DkeError('ERR_KEY_INVALID', {
    message: `${spec} is not a key type for ${protocol} keys`,
    hint: `${protocol} keys are ${PROTOCOL_SPECS[protocol].join(', ')}`,
  });
}

/**
 * The spec an imported private key has, after checking it is one OpenDKE uses at all (RSA with exponent
 * 65537 of 2048/3072/4096 bits, or EC on P-256/384/521). Throws ERR_KEY_TOO_WEAK / ERR_KEY_INVALID.
 */
export function specOf(key: KeyObject): KeySpec {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) throw new DkeError('ERR_KEY_TOO_WEAK', { message: `RSA-${bits} is far too weak` });
    if (details.publicExponent !== 65537n) {
      throw new DkeError('ERR_KEY_INVALID', { message: 'RSA public exponent must be 65537' });
    }
    const spec = `RSA-${bits}`;
    if (isKeySpec(spec)) return spec;
    throw new DkeError('ERR_KEY_INVALID', {
      message: `RSA-${bits} is not supported (2048, 3072 or 4096 bits)`,
    });
  }
  const curve = key.asymmetricKeyType === 'ec' ? CURVE_SPECS[details.namedCurve ?? ''] : undefined;
  if (curve !== undefined) return curve;
  throw new DkeError('ERR_KEY_INVALID', {
    message: `unsupported key type ${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? ''}`.trim(),
  });
}

const generateKeyPair = promisify(crypto.generateKeyPair);

/** A new private key; asynchronous so RSA generation runs off the event loop. */
export async function generatePrivateKey(spec: KeySpec): Promise<KeyObject> {
  const pair = spec.startsWith('RSA-')
    ? await generateKeyPair('rsa', { modulusLength: Number(spec.slice(4)), publicExponent: 65537 })
    : await generateKeyPair('ec', { namedCurve: spec });
  return pair.privateKey;
}

/** Reads a PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). Encrypted PEMs must be decrypted first. */
export function privateKeyFromPem(pem: string): KeyObject {
  try {
    const key = crypto.createPrivateKey({ key: pem, format: 'pem' });
    if (key.type === 'private') return key;
  } catch (cause) {
    const encrypted = /ENCRYPTED/.test(pem);
    throw new DkeError('ERR_KEY_INVALID', {
      message: encrypted ? 'the PEM private key is encrypted' : 'not a PEM private key',
      hint: encrypted ? 'decrypt it first, e.g. openssl pkey -in key.pem -out plain.pem' : undefined,
      cause,
    });
  }
  throw new DkeError('ERR_KEY_INVALID', { message: 'not a PEM private key' });
}
