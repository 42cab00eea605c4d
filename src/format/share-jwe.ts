/**
 * A holder's share, wrapped to its public key as a compact JWE (RFC 7516). The object id and the key id
 * are members of the JWE protected header, which AES-GCM authenticates as additional data, so a holder
 * that unwraps can trust the object id it records (docs/format.md §4).
 */
import type { KeyObject } from 'node:crypto';
// jose's sub-path modules: the CLI's streaming commands load only what they use (memory budget).
import { CompactEncrypt } from 'jose/jwe/compact/encrypt';
import { compactDecrypt } from 'jose/jwe/compact/decrypt';
import { DkeError } from '../errors/index.js';
import { fromB64url, toB64url } from '../crypto/encoding.js';
import { wrapAlgFor, type WrapAlg } from '../crypto/holder-keys.js';
import { parseStrictJson } from './strict-json.js';

export const SHARE_LENGTH = 32;
export const SHARE_TYP = 'opendke-share';
export const SHARE_ENC = 'A256GCM';
export const SHARE_ALGS: readonly WrapAlg[] = ['RSA-OAEP-256', 'ECDH-ES+A256KW'];
/** Upper bound of a stanza body; an RSA-4096 or P-521 JWE of a 32-byte share is far below it. */
export const MAX_JWE_LENGTH = 4096;
/** Nesting allowed in the protected header: the header object, `epk`, and room for unknown members. */
const MAX_HEADER_DEPTH = 4;

export interface ShareBinding {
  /** The object id, 16 bytes. */
  readonly objectId: Uint8Array;
  /** The holder's key id (RFC 7638 thumbprint). */
  readonly keyId: string;
}

/** The JWE protected-header members OpenDKE reads, before any decryption (so not yet authenticated). */
export interface ShareHeader {
  readonly alg: WrapAlg;
  readonly enc: typeof SHARE_ENC;
  readonly kid: string;
  readonly objectId: Buffer;
}

export async function wrapShare(
  share: Uint8Array,
  publicKey: KeyObject,
  binding: ShareBinding,
): Promise<string> {
  if (share.length !== SHARE_LENGTH) throw new DkeError('ERR_INTERNAL', { detail: 'share must be 32 bytes' });
  return new CompactEncrypt(share)
    .setProtectedHeader({
      alg: wrapAlgFor(publicKey),
      enc: SHARE_ENC,
      typ: SHARE_TYP,
      kid: binding.keyId,
      oid: toB64url(binding.objectId),
    })
    .encrypt(publicKey);
}

/**
 * Parses the protected header of a share JWE and checks its shape: five compact parts, a protected header
 * that is canonical base64url of UTF-8 JSON with no repeated member name (strict-json.ts), no `zip` and no
 * `crit`, then typ, alg, enc, kid and a 16-byte oid. Throws ERR_HOLDER_BINDING_MISMATCH (stanza unusable)
 * otherwise, with a fixed description of the rule in `detail`. Nothing is decrypted here.
 */
export function readShareHeader(jwe: string): ShareHeader {
  const fail = (why: string): DkeError => new DkeError('ERR_HOLDER_BINDING_MISMATCH', { detail: why });
  const parts = jwe.split('.');
  if (jwe.length > MAX_JWE_LENGTH || parts.length !== 5) throw fail('not a compact JWE');
  const header = decodeProtected(parts[0] as string, fail);
  // No decompression of attacker data in the unwrap path, whatever the value (docs/format.md §4.2).
  if ('zip' in header) throw fail('JWE zip is not allowed');
  if ('crit' in header) throw fail('JWE crit is not allowed');
  const { alg, enc, kid, oid, typ } = header;
  if (typ !== SHARE_TYP) throw fail('JWE typ is not opendke-share');
  if (typeof alg !== 'string' || !(SHARE_ALGS as readonly string[]).includes(alg))
    throw fail('JWE alg not allowed');
  if (enc !== SHARE_ENC) throw fail('JWE enc not allowed');
  if (typeof kid !== 'string' || kid.length === 0) throw fail('JWE kid missing');
  const objectId = typeof oid === 'string' ? fromB64url(oid) : undefined;
  if (objectId?.length !== 16) throw fail('JWE oid missing or not 16 bytes');
  return { alg: alg as WrapAlg, enc: SHARE_ENC, kid, objectId };
}

function decodeProtected(encoded: string, fail: (why: string) => DkeError): Record<string, unknown> {
  const bytes = fromB64url(encoded);
  if (bytes === undefined || bytes.length === 0) throw fail('JWE protected header is not base64url');
  let text: string;
  try {
    // ignoreBOM keeps a BOM in the text, where the JSON grammar then refuses it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw fail('JWE protected header is not UTF-8');
  }
  const parsed = parseStrictJson(text, { maxLength: MAX_JWE_LENGTH, maxDepth: MAX_HEADER_DEPTH });
  if (!parsed.ok) throw fail(`JWE protected header is not strict JSON: ${parsed.reason}`);
  const value = parsed.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail('JWE protected header is not a JSON object');
  return value as Record<string, unknown>;
}

/** The authenticated header names the expected key id and object id (when given), else ERR_HOLDER_BINDING_MISMATCH. */
export function assertShareBinding(header: ShareHeader, expected?: Partial<ShareBinding>): void {
  if (expected?.keyId !== undefined && header.kid !== expected.keyId) {
    throw new DkeError('ERR_HOLDER_BINDING_MISMATCH', { detail: 'JWE kid differs from the stanza key id' });
  }
  if (expected?.objectId !== undefined && !header.objectId.equals(expected.objectId)) {
    throw new DkeError('ERR_HOLDER_BINDING_MISMATCH', { detail: 'JWE oid differs from the object id' });
  }
}

/**
 * Unwraps a share with a holder's private key. If `expected` is given, the authenticated header must
 * name that object id and key id. Any failure is ERR_HOLDER_UNWRAP_FAILED or ERR_HOLDER_BINDING_MISMATCH;
 * callers add which holder it was.
 */
export async function unwrapShare(
  jwe: string,
  privateKey: KeyObject,
  expected?: Partial<ShareBinding>,
): Promise<{ share: Buffer; header: ShareHeader }> {
  const header = readShareHeader(jwe);
  assertShareBinding(header, expected);
  if (wrapAlgFor(privateKey, 2048) !== header.alg) {
    throw new DkeError('ERR_HOLDER_UNWRAP_FAILED', { detail: 'JWE alg does not match the key type' });
  }
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, privateKey, {
      keyManagementAlgorithms: [header.alg],
      contentEncryptionAlgorithms: [SHARE_ENC],
      // readShareHeader already refused zip; this keeps jose from ever inflating, should that change.
      maxDecompressedLength: 0,
    }));
  } catch (cause) {
    throw new DkeError('ERR_HOLDER_UNWRAP_FAILED', { detail: 'JWE did not decrypt', cause });
  }
  if (plaintext.length !== SHARE_LENGTH) {
    throw new DkeError('ERR_HOLDER_UNWRAP_FAILED', { detail: 'share is not 32 bytes' });
  }
  return { share: Buffer.from(plaintext), header };
}
