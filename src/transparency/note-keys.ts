/**
 * Signed-note keys (C2SP signed-note, "Verifier keys"; golang.org/x/mod/sumdb/note for the signer key
 * spelling). A verifier key (vkey) is `<name>+<hex8 key ID>+base64(type || public key)`; a signer key is
 * `PRIVATE+KEY+<name>+<hex8 key ID>+base64(type || 32-byte Ed25519 seed)`. Two types: 0x01 (plain Ed25519
 * note signatures, e.g. the log's) and 0x04 (tlog-cosignature/v1 Ed25519 witness cosignatures). The key ID
 * is always recomputed and compared, so a key string cannot claim another key's ID.
 */
import crypto from 'node:crypto';
import { decodeBase64, invalid } from './encoding.js';

export const KEY_TYPE_ED25519 = 0x01;
export const KEY_TYPE_COSIGNATURE_V1 = 0x04;
export type KeyType = typeof KEY_TYPE_ED25519 | typeof KEY_TYPE_COSIGNATURE_V1;

/** Key names longer than this are refused (the spec sets no limit; ours bounds every line). */
export const MAX_KEY_NAME_BYTES = 256;
const MAX_KEY_STRING_CHARS = 1024;

export interface NoteVerifierKey {
  readonly name: string;
  /** The 4-byte key ID. */
  readonly keyHash: Buffer;
  readonly type: KeyType;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  readonly keyObject: crypto.KeyObject;
}

export interface NoteSignerKey extends NoteVerifierKey {
  readonly privateKey: crypto.KeyObject;
}

/** Name rule of the spec: non-empty, no Unicode space, no '+'; we also refuse control characters. */
export function isValidKeyName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    Buffer.byteLength(name, 'utf8') <= MAX_KEY_NAME_BYTES &&
    !/[\s+\p{Cc}\p{Zs}\p{Zl}\p{Zp}\p{Surrogate}\u200B\u2060\uFEFF]/u.test(name)
  );
}

/** key ID = SHA-256(name || 0x0A || type || public key)[:4]. */
export function keyHashOf(name: string, type: KeyType, publicKey: Uint8Array): Buffer {
  return crypto
    .createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function publicKeyObject(raw: Buffer): crypto.KeyObject {
  try {
    return crypto.createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
      format: 'der',
      type: 'spki',
    });
  } catch {
    throw invalid('key is not a valid Ed25519 public key');
  }
}

function checkType(type: number | undefined): KeyType {
  if (type !== KEY_TYPE_ED25519 && type !== KEY_TYPE_COSIGNATURE_V1)
    throw invalid('key has an unsupported type');
  return type;
}

function splitKey(text: unknown, parts: number, what: string): string[] {
  if (typeof text !== 'string' || text.length > MAX_KEY_STRING_CHARS) throw invalid(`${what} is malformed`);
  // The last field is base64, which may itself contain '+': split at the first parts - 1 pluses only.
  const fields: string[] = [];
  let rest = text;
  for (let k = 1; k < parts; k++) {
    const at = rest.indexOf('+');
    if (at < 0) throw invalid(`${what} is malformed`);
    fields.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  fields.push(rest);
  return fields;
}

function checkedHash(name: string, hex: string, type: KeyType, publicKey: Buffer, what: string): Buffer {
  if (!isValidKeyName(name)) throw invalid(`${what} has an invalid name`);
  if (!/^[0-9a-f]{8}$/.test(hex)) throw invalid(`${what} has a malformed key ID`);
  const keyHash = keyHashOf(name, type, publicKey);
  if (keyHash.toString('hex') !== hex) throw invalid(`${what} key ID does not match its key`);
  return keyHash;
}

/** Parses a vkey string `<name>+<hex8>+<base64(type || key)>`. Throws ERR_PROOF_INVALID. */
export function parseVerifierKey(vkey: string): NoteVerifierKey {
  const [name = '', hex = '', material = ''] = splitKey(vkey, 3, 'verifier key');
  const bytes = decodeBase64(material, 'verifier key');
  if (bytes.length !== 33) throw invalid('verifier key has the wrong length');
  const type = checkType(bytes[0]);
  const publicKey = Buffer.from(bytes.subarray(1));
  const keyHash = checkedHash(name, hex, type, publicKey, 'verifier key');
  return { name, keyHash, type, publicKey, keyObject: publicKeyObject(publicKey) };
}

/** Parses a signer key `PRIVATE+KEY+<name>+<hex8>+<base64(type || seed)>`. Throws ERR_PROOF_INVALID. */
export function parseSignerKey(skey: string): NoteSignerKey {
  const [p = '', k = '', name = '', hex = '', material = ''] = splitKey(skey, 5, 'signer key');
  if (p !== 'PRIVATE' || k !== 'KEY') throw invalid('signer key is malformed');
  const bytes = decodeBase64(material, 'signer key');
  if (bytes.length !== 33) throw invalid('signer key has the wrong length');
  const type = checkType(bytes[0]);
  const privateKey = crypto.createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, bytes.subarray(1)]),
    format: 'der',
    type: 'pkcs8',
  });
  const keyObject = crypto.createPublicKey(privateKey);
  const publicKey = keyObject.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length);
  const keyHash = checkedHash(name, hex, type, publicKey, 'signer key');
  return { name, keyHash, type, publicKey, keyObject, privateKey };
}

/** Formats a vkey for a raw 32-byte Ed25519 public key. */
export function formatVerifierKey(name: string, type: KeyType, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw invalid('key name is invalid');
  checkType(type);
  if (publicKey.length !== 32) throw invalid('public key has the wrong length');
  const hex = keyHashOf(name, type, publicKey).toString('hex');
  return `${name}+${hex}+${Buffer.concat([Buffer.from([type]), publicKey]).toString('base64')}`;
}

/**
 * A fresh Ed25519 key pair as (signer key, verifier key) strings. `type` 0x01 for a log or any note
 * signer, 0x04 for a tlog-cosignature/v1 witness. The signer key string is a secret.
 */
export function generateSignerKey(
  name: string,
  type: KeyType = KEY_TYPE_ED25519,
): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw invalid('key name is invalid');
  checkType(type);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(ED25519_PKCS8_PREFIX.length);
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length);
  const hex = keyHashOf(name, type, raw).toString('hex');
  const signerKey = `PRIVATE+KEY+${name}+${hex}+${Buffer.concat([Buffer.from([type]), seed]).toString('base64')}`;
  return { signerKey, verifierKey: formatVerifierKey(name, type, raw) };
}
