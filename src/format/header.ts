/**
 * Byte layout of the v1 header (docs/format.md §3): strict parsing and the exact inverse serialization,
 * so parse(serialize(h)) == h and serialize(parse(b)) == b for every accepted b.
 * Parsing checks structure only; authenticity is established later by the key commitment and the MAC.
 */
import { DkeError } from '../errors/index.js';
import {
  COMMITMENT_LENGTH,
  FORMAT_VERSION,
  LIMITS,
  MAC_LENGTH,
  MAGIC,
  MAX_CHUNK_LOG2,
  MAX_HOLDERS,
  MIN_CHUNK_LOG2,
  MIN_HOLDERS,
  OBJECT_ID_LENGTH,
} from './constants.js';

/** One holder's entry: who holds the key and the share wrapped to it. */
export interface Stanza {
  /** Holder type: `local` (key file) or `remote` (key service); others are reserved. */
  readonly type: string;
  /** RFC 7638 thumbprint of the holder's public key. */
  readonly keyId: string;
  /** Where the holder lives: empty for `local`, the key URL for `remote`. */
  readonly locator: string;
  /** The share, wrapped as a compact JWE. */
  readonly body: string;
}

export interface Header {
  readonly version: number;
  readonly objectId: Buffer;
  readonly chunkLog2: number;
  readonly stanzas: readonly Stanza[];
  readonly commitment: Buffer;
  readonly mac: Buffer;
}

const TYPE_CHARS = /^[a-z0-9-]+$/;
const KEY_ID_CHARS = /^[A-Za-z0-9_-]+$/;
const JWE_CHARS = /^[A-Za-z0-9_.-]+$/;
// Locators are URLs: printable, no controls (they are shown to users).
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const LOCATOR_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]/;

const PREFIX_LENGTH = MAGIC.length + 1 + OBJECT_ID_LENGTH + 1 + 1;
/** The holder type whose key is a file; its stanza has no locator (§4.3). */
const LOCAL_TYPE = 'local';

function malformed(detail: string): DkeError {
  return new DkeError('ERR_FORMAT_MALFORMED', { detail });
}

/** Validates one stanza's fields against the charset and length rules. */
export function checkStanza(stanza: Stanza): void {
  const { type, keyId, locator, body } = stanza;
  if (type.length < 1 || type.length > LIMITS.typeLength || !TYPE_CHARS.test(type))
    throw malformed('bad stanza type');
  if (keyId.length < 1 || keyId.length > LIMITS.keyIdLength || !KEY_ID_CHARS.test(keyId))
    throw malformed('bad key id');
  const locatorBytes = Buffer.from(locator, 'utf8');
  // A string with a lone surrogate has no UTF-8 form (Buffer would silently substitute U+FFFD).
  if (
    locatorBytes.length > LIMITS.locatorLength ||
    LOCATOR_FORBIDDEN.test(locator) ||
    locatorBytes.toString('utf8') !== locator
  ) {
    throw malformed('bad locator');
  }
  if (type === LOCAL_TYPE && locator !== '') {
    throw new DkeError('ERR_FORMAT_MALFORMED', {
      message: `malformed OpenDKE header: local holder ${keyId} has a locator (it must be empty)`,
    });
  }
  if (body.length < 1 || body.length > LIMITS.bodyLength || !JWE_CHARS.test(body))
    throw malformed('bad stanza body');
}

/**
 * Each holder key appears once per object (§3): two stanzas under one key would make that key holder
 * "two holders", so the object would no longer need n independent keys. Key ids are compared exactly.
 */
function checkDistinctKeys(stanzas: readonly Stanza[]): void {
  const seen = new Set<string>();
  for (const { keyId } of stanzas) {
    if (seen.has(keyId)) {
      throw new DkeError('ERR_FORMAT_MALFORMED', {
        message: `malformed OpenDKE header: holder key ${keyId} appears twice`,
      });
    }
    seen.add(keyId);
  }
}

/** Everything the MAC covers: from the magic through the commitment. */
export function serializeUnauthenticated(header: Omit<Header, 'mac'>): Buffer {
  if (header.stanzas.length < MIN_HOLDERS || header.stanzas.length > MAX_HOLDERS)
    throw malformed('holder count');
  checkDistinctKeys(header.stanzas);
  const parts: Buffer[] = [
    MAGIC,
    Buffer.from([header.version]),
    header.objectId,
    Buffer.from([header.chunkLog2, header.stanzas.length]),
  ];
  for (const stanza of header.stanzas) {
    checkStanza(stanza);
    const locator = Buffer.from(stanza.locator, 'utf8');
    const fields = Buffer.alloc(1 + stanza.type.length + 1 + stanza.keyId.length + 2 + locator.length + 2);
    let at = fields.writeUInt8(stanza.type.length, 0);
    at += fields.write(stanza.type, at, 'ascii');
    at = fields.writeUInt8(stanza.keyId.length, at);
    at += fields.write(stanza.keyId, at, 'ascii');
    at = fields.writeUInt16BE(locator.length, at);
    at += locator.copy(fields, at);
    fields.writeUInt16BE(stanza.body.length, at);
    parts.push(fields, Buffer.from(stanza.body, 'ascii'));
  }
  parts.push(header.commitment);
  return Buffer.concat(parts);
}

export function serializeHeader(header: Header): Buffer {
  return Buffer.concat([serializeUnauthenticated(header), header.mac]);
}

/** A cursor over a buffer that reports "need more bytes" instead of reading past the end. */
class Cursor {
  offset = 0;
  constructor(private readonly bytes: Buffer) {}
  has(length: number): boolean {
    return this.offset + length <= this.bytes.length;
  }
  take(length: number): Buffer {
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
}

export type ParseResult =
  { readonly header: Header; readonly length: number } | { readonly incomplete: true };

/**
 * Parses a header from the start of `bytes`. Returns `{ incomplete: true }` if more bytes are needed
 * (the caller reads more and retries); throws ERR_FORMAT_MALFORMED or ERR_FORMAT_UNSUPPORTED_VERSION.
 * Check order: magic, version, object id, chunk size, holder count, each stanza, commitment, MAC.
 */
export function parseHeader(bytes: Buffer): ParseResult {
  const prefix = bytes.subarray(0, MAGIC.length);
  if (!MAGIC.subarray(0, prefix.length).equals(prefix)) {
    throw new DkeError('ERR_FORMAT_MALFORMED', { message: 'not an OpenDKE file', detail: 'bad magic' });
  }
  // The version byte alone decides (§4.3): checked before waiting for the rest of the fixed prefix.
  if (bytes.length < MAGIC.length + 1) return { incomplete: true };
  const cursor = new Cursor(bytes);
  cursor.take(MAGIC.length);
  const version = cursor.take(1)[0] as number;
  if (version !== FORMAT_VERSION) {
    throw new DkeError('ERR_FORMAT_UNSUPPORTED_VERSION', {
      message: `unsupported OpenDKE format version ${version}`,
      hint: 'this file was written by a newer OpenDKE; upgrade to read it',
    });
  }
  if (bytes.length < PREFIX_LENGTH) return { incomplete: true };
  const objectId = Buffer.from(cursor.take(OBJECT_ID_LENGTH));
  const [chunkLog2, holderCount] = cursor.take(2) as unknown as [number, number];
  if (chunkLog2 < MIN_CHUNK_LOG2 || chunkLog2 > MAX_CHUNK_LOG2) throw malformed('chunk size out of range');
  if (holderCount < MIN_HOLDERS || holderCount > MAX_HOLDERS) throw malformed('holder count out of range');

  const stanzas: Stanza[] = [];
  for (let i = 0; i < holderCount; i++) {
    const stanza = parseStanza(cursor);
    if (stanza === undefined) return { incomplete: true };
    stanzas.push(stanza);
  }
  checkDistinctKeys(stanzas);
  if (!cursor.has(COMMITMENT_LENGTH + MAC_LENGTH)) return { incomplete: true };
  const commitment = Buffer.from(cursor.take(COMMITMENT_LENGTH));
  const mac = Buffer.from(cursor.take(MAC_LENGTH));
  return { header: { version, objectId, chunkLog2, stanzas, commitment, mac }, length: cursor.offset };
}

function parseStanza(cursor: Cursor): Stanza | undefined {
  // Lengths are checked against the limits before waiting for the bytes, so a bad prefix fails fast.
  const lengthPrefixed = (width: 1 | 2, max: number): Buffer | undefined => {
    if (!cursor.has(width)) return undefined;
    const head = cursor.take(width);
    const length = width === 1 ? head.readUInt8(0) : head.readUInt16BE(0);
    if (length > max) throw malformed('stanza field too long');
    return cursor.has(length) ? cursor.take(length) : undefined;
  };
  const type = lengthPrefixed(1, LIMITS.typeLength);
  const keyId = type && lengthPrefixed(1, LIMITS.keyIdLength);
  const locator = keyId && lengthPrefixed(2, LIMITS.locatorLength);
  const body = locator && lengthPrefixed(2, LIMITS.bodyLength);
  if (type === undefined || keyId === undefined || locator === undefined || body === undefined)
    return undefined;
  const locatorText = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(locator);
  if (!Buffer.from(locatorText, 'utf8').equals(locator)) throw malformed('locator is not UTF-8');
  const stanza: Stanza = {
    type: type.toString('latin1'),
    keyId: keyId.toString('latin1'),
    locator: locatorText,
    body: body.toString('latin1'),
  };
  checkStanza(stanza);
  return stanza;
}
