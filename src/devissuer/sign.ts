/** DEVELOPMENT ONLY. Signs JWTs with the development issuer's current key. */
import { randomUUID } from 'node:crypto';
import { CompactSign, type JWTPayload } from 'jose';
import type { DevSigningKey } from './keys.js';

export interface SignTokenOptions {
  /** `aud` unless the claims carry one. */
  readonly audience?: string | readonly string[];
  /** Lifetime from now, default 3600 (ignored when the claims carry `exp`). */
  readonly expiresInSeconds?: number;
  /** Extra or overriding protected-header fields (e.g. `kid`, `typ`; `undefined` removes one); `alg` always fits the key. */
  readonly header?: Readonly<Record<string, unknown>>;
}

/**
 * Signs `claims` over defaults (iss, iat, exp, jti and `aud` from options). A claim given as `undefined`
 * removes the default, so tests can build tokens without `exp` and the like.
 */
export async function signJwt(
  key: DevSigningKey,
  issuer: string,
  claims: Readonly<Record<string, unknown>>,
  options: SignTokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const merged: Record<string, unknown> = {
    iss: issuer,
    iat: now,
    exp: now + (options.expiresInSeconds ?? 3600),
    jti: randomUUID(),
    ...(options.audience === undefined ? {} : { aud: options.audience }),
    ...claims,
  };
  const payload: JWTPayload = Object.fromEntries(
    Object.entries(merged).filter(([, value]) => value !== undefined),
  );
  // Header fields from options win (tests sign with misleading key ids), except `alg`, which must fit the key.
  const header = Object.fromEntries(
    Object.entries({ typ: 'JWT', kid: key.kid, ...options.header, alg: key.alg }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ ...header, alg: key.alg })
    .sign(key.privateKey);
}
