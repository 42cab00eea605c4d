/** Constants of OpenDKE format v1 (docs/format.md). Changing any of them is a new format version. */
export const MAGIC = Buffer.from('OpenDKE', 'ascii');
export const FORMAT_VERSION = 1;
export const OBJECT_ID_LENGTH = 16;
export const SHARE_LENGTH = 32;
export const COMMITMENT_LENGTH = 32;
export const MAC_LENGTH = 32;
export const TAG_LENGTH = 16;
export const NONCE_LENGTH = 12;

/** Writers use 1 MiB plaintext chunks (measured fastest with several chunks in flight; docs/format.md §6). */
export const DEFAULT_CHUNK_LOG2 = 20;
export const MIN_CHUNK_LOG2 = 12;
export const MAX_CHUNK_LOG2 = 24;

export const MIN_HOLDERS = 2;
export const MAX_HOLDERS = 16;

export const LIMITS = {
  typeLength: 32,
  keyIdLength: 128,
  locatorLength: 2048,
  bodyLength: 4096,
} as const;

/** HKDF info labels; each derives one independent 32-byte key. */
export const LABELS = {
  contentKey: 'OpenDKE v1 content key',
  payloadKey: 'OpenDKE v1 payload key',
  macKey: 'OpenDKE v1 header MAC key',
  commitment: 'OpenDKE v1 key commitment',
} as const;
