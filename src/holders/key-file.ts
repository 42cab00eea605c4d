/**
 * Holder key files (docs/key-files.md): JSON holding a PKCS#8 private key, either in the clear or sealed
 * with AES-256-GCM under a key derived from a passphrase with scrypt. Created with mode 0600.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  randomBytes,
  scrypt,
  type KeyObject,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import { DkeError } from '../errors/index.js';
import { fromB64url, toB64url } from '../crypto/encoding.js';
import { decodeRecipient, encodeRecipient, keyIdOf, wrapAlgFor } from '../crypto/holder-keys.js';
import { parseStrictJson } from '../format/strict-json.js';

export const KEY_FILE_TYPE = 'opendke-holder-key';
/** scrypt cost: N = 2^17, r = 8, p = 1 (128 MiB, RFC 7914; OWASP's minimum for interactive use). */
export const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const;
/** Far above any key file (an RSA-4096 one is about 3.5 KB); bounds what a hostile file costs to parse. */
const MAX_KEY_FILE_LENGTH = 65_536;

interface SealedKey {
  readonly kdf: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: string;
  readonly nonce: string;
  readonly ciphertext: string;
}

interface KeyFileJson {
  readonly type: typeof KEY_FILE_TYPE;
  readonly version: 1;
  readonly keyId: string;
  readonly recipient: string;
  readonly privateKey?: string;
  readonly sealedPrivateKey?: SealedKey;
}

function deriveKey(
  passphrase: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { ...params, maxmem: 256 * params.N * params.r },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

const aadFor = (keyId: string): Buffer => Buffer.from(`${KEY_FILE_TYPE} v1 ${keyId}`, 'utf8');

export async function serializeKeyFile(key: KeyObject, passphrase?: string): Promise<string> {
  wrapAlgFor(key);
  const keyId = await keyIdOf(key);
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const json: KeyFileJson = { type: KEY_FILE_TYPE, version: 1, keyId, recipient: encodeRecipient(key) };
  if (passphrase === undefined) return `${JSON.stringify({ ...json, privateKey: toB64url(der) }, null, 2)}\n`;
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const wrappingKey = await deriveKey(passphrase, salt, SCRYPT_PARAMS);
  const cipher = createCipheriv('aes-256-gcm', wrappingKey, nonce).setAAD(aadFor(keyId));
  const ciphertext = Buffer.concat([cipher.update(der), cipher.final(), cipher.getAuthTag()]);
  const sealed: SealedKey = {
    kdf: 'scrypt',
    ...SCRYPT_PARAMS,
    salt: toB64url(salt),
    nonce: toB64url(nonce),
    ciphertext: toB64url(ciphertext),
  };
  return `${JSON.stringify({ ...json, sealedPrivateKey: sealed }, null, 2)}\n`;
}

/** Writes a new key file with mode 0600; refuses to replace an existing file. */
export async function writeKeyFile(path: string, key: KeyObject, passphrase?: string): Promise<void> {
  const text = await serializeKeyFile(key, passphrase);
  try {
    await fs.writeFile(path, text, { mode: 0o600, flag: 'wx' });
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
    throw new DkeError('ERR_IO', {
      message: exists ? `${path} already exists` : `cannot write ${path}`,
      hint: exists ? 'choose another file name; key files are never overwritten' : undefined,
      cause,
    });
  }
}

export function isKeyFileText(text: string): boolean {
  return text.trimStart().startsWith('{') && text.includes(KEY_FILE_TYPE);
}

export function keyFileNeedsPassphrase(text: string): boolean {
  return parseKeyFileJson(text).sealedPrivateKey !== undefined;
}

function parseKeyFileJson(text: string): KeyFileJson {
  // Strict: with a repeated member, two readers could see two different keys in one file.
  const parsed = parseStrictJson(text, { maxLength: MAX_KEY_FILE_LENGTH, maxDepth: 2 });
  if (!parsed.ok)
    throw new DkeError('ERR_KEY_INVALID', { message: `key file is not valid JSON (${parsed.reason})` });
  const candidate = parsed.value as Partial<KeyFileJson> | null;
  if (candidate?.type !== KEY_FILE_TYPE || candidate.version !== 1 || typeof candidate.keyId !== 'string') {
    throw new DkeError('ERR_KEY_INVALID', { message: 'not an OpenDKE holder key file (version 1)' });
  }
  return candidate as KeyFileJson;
}

/** True if the file's `recipient` names the public key of `keyId` (compared by key id, so any JWK member order works). */
async function recipientMatches(recipient: unknown, keyId: string): Promise<boolean> {
  if (typeof recipient !== 'string') return false;
  try {
    return (await keyIdOf(decodeRecipient(recipient))) === keyId;
  } catch {
    return false;
  }
}

/**
 * Reads a key file's private key; checks that the key id and the recipient the file claims are the key's
 * own. The private key is the truth: a file whose other fields were edited is refused, never followed.
 */
export async function parseKeyFile(text: string, passphrase?: string): Promise<KeyObject> {
  const json = parseKeyFileJson(text);
  let der: Buffer | undefined;
  if (typeof json.privateKey === 'string') {
    der = fromB64url(json.privateKey);
  } else if (json.sealedPrivateKey !== undefined) {
    if (passphrase === undefined) {
      throw new DkeError('ERR_KEY_PASSPHRASE', {
        message: 'this key file is passphrase-protected',
        hint: 'give the passphrase with --passphrase-file or DKE_PASSPHRASE',
      });
    }
    der = await unseal(json.sealedPrivateKey, json.keyId, passphrase);
  }
  if (der === undefined)
    throw new DkeError('ERR_KEY_INVALID', { message: 'key file holds no readable private key' });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new DkeError('ERR_KEY_INVALID', { message: 'key file holds no readable private key', cause });
  }
  if ((await keyIdOf(key)) !== json.keyId) {
    throw new DkeError('ERR_KEY_INVALID', { message: 'key file is damaged: key id does not match its key' });
  }
  if (!(await recipientMatches(json.recipient, json.keyId))) {
    throw new DkeError('ERR_KEY_INVALID', {
      message: 'key file is damaged: its recipient does not match its private key',
      hint: 'the file was edited; restore it from a backup, or use the recipient string keygen printed',
    });
  }
  return key;
}

async function unseal(sealed: SealedKey, keyId: string, passphrase: string): Promise<Buffer> {
  const salt = fromB64url(sealed.salt);
  const nonce = fromB64url(sealed.nonce);
  const ciphertext = fromB64url(sealed.ciphertext);
  const { N, r, p } = sealed;
  // Bounded cost parameters: a hostile key file must not make us allocate gigabytes.
  const sane = [N, r, p].every(Number.isSafeInteger) && N >= 2 ** 14 && N <= 2 ** 20 && (N & (N - 1)) === 0;
  if (
    sealed.kdf !== 'scrypt' ||
    !sane ||
    r < 1 ||
    r > 32 ||
    p < 1 ||
    p > 16 ||
    salt?.length !== 16 ||
    nonce?.length !== 12 ||
    ciphertext === undefined ||
    ciphertext.length < 17
  ) {
    throw new DkeError('ERR_KEY_INVALID', { message: 'key file has an unsupported or damaged sealed key' });
  }
  const wrappingKey = await deriveKey(passphrase, salt, { N, r, p });
  const decipher = createDecipheriv('aes-256-gcm', wrappingKey, nonce).setAAD(aadFor(keyId));
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  try {
    return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  } catch {
    throw new DkeError('ERR_KEY_PASSPHRASE');
  }
}
