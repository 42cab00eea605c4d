/**
 * DEVELOPMENT ONLY. The development issuer's signing keys: generated in memory at start, never stored, with
 * rotation so clients' unknown-key-id refresh can be exercised.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK } from 'jose';

export type DevSigningAlg = 'ES256' | 'RS256';

export interface DevSigningKey {
  readonly kid: string;
  readonly alg: DevSigningAlg;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

export async function generateSigningKey(alg: DevSigningAlg): Promise<DevSigningKey> {
  const { privateKey, publicKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** The current signing key plus the previous ones still published (so tokens they signed stay valid). */
export class KeyRing {
  private constructor(
    private current: DevSigningKey,
    private previous: DevSigningKey[],
    private readonly alg: DevSigningAlg,
  ) {}

  static async create(alg: DevSigningAlg): Promise<KeyRing> {
    return new KeyRing(await generateSigningKey(alg), [], alg);
  }

  get signingKey(): DevSigningKey {
    return this.current;
  }

  /** Makes a new key current; the old one stays published unless `dropPrevious`. Returns the new kid. */
  async rotate(dropPrevious = false): Promise<string> {
    const next = await generateSigningKey(this.alg);
    this.previous = dropPrevious ? [] : [this.current, ...this.previous].slice(0, 4);
    this.current = next;
    return next.kid;
  }

  jwks(): JSONWebKeySet {
    return { keys: [this.current, ...this.previous].map((key) => ({ ...key.publicJwk })) };
  }
}
