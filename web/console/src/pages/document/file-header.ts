/**
 * Reads an OpenDKE file's header in the browser (docs/format.md §3), for the Document page: only the header's
 * bytes are read (File.slice), nothing is uploaded and nothing is decrypted. The header MAC cannot be checked
 * without the keys, so what this shows is what the file claims; the audit records say what the key service saw.
 */

export interface HeaderHolder {
  readonly type: string;
  readonly keyId: string;
  readonly locator: string;
}

export interface FileHeader {
  /** base64url (no padding) of the 16-byte object_id, as the audit records name objects. */
  readonly objectId: string;
  readonly version: number;
  readonly holders: readonly HeaderHolder[];
}

/** Why a file's header cannot be read, in words a person acts on. */
export class HeaderError extends Error {}

const MAGIC = [0x4f, 0x70, 0x65, 0x6e, 0x44, 0x4b, 0x45]; // "OpenDKE"
/** docs/format.md §3.1: the largest header a reader accepts. */
export const MAX_HEADER_BYTES = 101_050;

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Parses the header at the start of `bytes` (at most MAX_HEADER_BYTES of the file). */
export function parseHeader(bytes: Uint8Array, fileSize: number): FileHeader {
  let at = 0;
  const need = (count: number, what: string): Uint8Array => {
    if (at + count > bytes.length) {
      throw new HeaderError(
        at + count > fileSize
          ? `The file ends inside its OpenDKE header (${what}): it is cut short or not an OpenDKE file.`
          : `The OpenDKE header is larger than the format allows (${what}).`,
      );
    }
    const slice = bytes.subarray(at, at + count);
    at += count;
    return slice;
  };
  const u8 = (what: string): number => need(1, what)[0] ?? 0;
  const u16 = (what: string): number => {
    const two = need(2, what);
    return ((two[0] ?? 0) << 8) | (two[1] ?? 0);
  };
  const text = new TextDecoder('utf-8', { fatal: false });

  if (fileSize < MAGIC.length || !MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw new HeaderError('This is not an OpenDKE file: it does not start with the "OpenDKE" magic bytes.');
  }
  at = MAGIC.length;
  const version = u8('version');
  if (version !== 1) {
    throw new HeaderError(`This OpenDKE file has format version ${version}; this console reads version 1.`);
  }
  const objectId = base64url(need(16, 'object id'));
  const chunkLog2 = u8('chunk size');
  if (chunkLog2 < 12 || chunkLog2 > 24)
    throw new HeaderError('The OpenDKE header is malformed (chunk size).');
  const count = u8('holder count');
  if (count < 2 || count > 16)
    throw new HeaderError(`The OpenDKE header names ${count} holders (2 to 16 allowed).`);
  const holders: HeaderHolder[] = [];
  for (let i = 0; i < count; i += 1) {
    const typeLength = u8('holder type');
    if (typeLength < 1 || typeLength > 32)
      throw new HeaderError('The OpenDKE header is malformed (holder type).');
    const type = text.decode(need(typeLength, 'holder type'));
    const kidLength = u8('key id');
    if (kidLength < 1 || kidLength > 128) throw new HeaderError('The OpenDKE header is malformed (key id).');
    const keyId = text.decode(need(kidLength, 'key id'));
    const locatorLength = u16('locator');
    if (locatorLength > 2048) throw new HeaderError('The OpenDKE header is malformed (locator).');
    const locator = text.decode(need(locatorLength, 'locator'));
    const bodyLength = u16('wrapped share');
    if (bodyLength < 1 || bodyLength > 4096)
      throw new HeaderError('The OpenDKE header is malformed (wrapped share).');
    need(bodyLength, 'wrapped share');
    holders.push({ type, keyId, locator });
  }
  need(64, 'commitment and MAC');
  return { objectId, version, holders };
}

/** Reads the header of a chosen or dropped file: its first bytes only, in this browser. */
export async function readFileHeader(file: Blob): Promise<FileHeader> {
  const head = new Uint8Array(await file.slice(0, MAX_HEADER_BYTES).arrayBuffer());
  return parseHeader(head, file.size);
}
