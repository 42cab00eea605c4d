/**
 * Key releases over real HTTP against a running service, as clients make them: a native unwrap of a share
 * wrapped to the key's public key (GET /keys/{name}), and a Microsoft DKE decrypt of a value encrypted to
 * the key Office would fetch (GET /{name}); a share wrapped once and unwrapped as often as a test needs (the
 * same object opened by several users). Each answers the HTTP status, so a test can make allowed
 * releases and policy refusals happen and count them in the audit log.
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';

async function postJson(url: string, body: unknown, token: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

export interface WrappedShare {
  /** base64url of the 16-byte object id. */
  readonly objectId: string;
  readonly stanza: string;
}

/** What an encrypting client does for one holder: fetch native key `name`'s public key, wrap a share to it. */
export async function wrapShareFor(
  serviceUrl: string,
  name: string,
  objectId = randomBytes(16),
): Promise<WrappedShare> {
  const key = await fetch(`${serviceUrl}/keys/${name}`);
  if (key.status !== 200) throw new Error(`GET /keys/${name}: ${key.status}`);
  const { keyId, jwk } = (await key.json()) as { keyId: string; jwk: JWK };
  const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(jwk), { objectId, keyId });
  return { objectId: objectId.toString('base64url'), stanza };
}

/** Asks the service to unwrap `share` (wrapped to native key `name`) with `token`; the status. */
export function unwrapShare(
  serviceUrl: string,
  name: string,
  share: WrappedShare,
  token: string,
): Promise<number> {
  return postJson(`${serviceUrl}/keys/${name}/unwrap`, { stanza: share.stanza }, token);
}

/** Wraps a fresh share to native key `name` and asks the service to unwrap it; the status. */
export async function nativeUnwrap(serviceUrl: string, name: string, token: string): Promise<number> {
  return unwrapShare(serviceUrl, name, await wrapShareFor(serviceUrl, name), token);
}

/** Encrypts a fresh secret to ms-dke key `name` as Office does and asks the service to decrypt it; the status. */
export async function msDkeDecrypt(serviceUrl: string, name: string, token: string): Promise<number> {
  const answer = await fetch(`${serviceUrl}/${name}`);
  if (answer.status !== 200) throw new Error(`GET /${name}: ${answer.status}`);
  const { key } = (await answer.json()) as { key: { n: string; e: number; kid: string } };
  const publicKey = createPublicKey({
    key: {
      kty: 'RSA',
      n: Buffer.from(key.n, 'base64').toString('base64url'),
      e: Buffer.from(new Uint8Array([1, 0, 1])).toString('base64url'),
    },
    format: 'jwk',
  });
  const value = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    randomBytes(32),
  ).toString('base64');
  const keyId = key.kid.slice(key.kid.lastIndexOf('/') + 1);
  return postJson(`${serviceUrl}/${name}/${keyId}/decrypt`, { alg: 'RSA-OAEP-256', value }, token);
}

interface ConfigJson {
  readonly auth: { readonly issuers: Record<string, unknown>[] };
}

/**
 * Microsoft DKE needs the caller's user name, so the key API's issuers in the service config `file` (as
 * test/support/console.ts writes it) are told to read it from `upn`.
 */
export function readUserNamesFromUpn(file: string): void {
  const config = JSON.parse(readFileSync(file, 'utf8')) as ConfigJson;
  const issuers = config.auth.issuers.map((issuer) => ({ ...issuer, userNameClaims: ['upn'] }));
  writeFileSync(file, JSON.stringify({ ...config, auth: { ...config.auth, issuers } }, null, 2));
}
