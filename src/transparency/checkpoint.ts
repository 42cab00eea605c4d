/**
 * C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint): origin line, tree size in decimal without
 * leading zeros, base64 of the 32-byte RFC 6962 root, then optional non-empty extension lines. Sizes are
 * bigint, 0 ≤ size ≤ 2^63 - 1 (the uint64 of the spec, capped where the Merkle code is exact).
 */
import { decodeBase64, hasControlCharacter, invalid, parseDecimal, toUint63 } from './encoding.js';
import { HASH_SIZE } from './merkle.js';
import { verifyNote, type NoteVerifier, type NoteSignature } from './note.js';

export const MAX_ORIGIN_BYTES = 256;
export const MAX_EXTENSION_LINES = 16;

export interface Checkpoint {
  readonly origin: string;
  readonly size: bigint;
  readonly rootHash: Buffer;
  readonly extensions: readonly string[];
}

function checkLine(line: string, what: string, maxBytes: number): void {
  if (line.length === 0) throw invalid(`checkpoint ${what} is empty`);
  if (hasControlCharacter(line, false) || /\p{Surrogate}/u.test(line))
    throw invalid(`checkpoint ${what} contains a control character`);
  if (Buffer.byteLength(line, 'utf8') > maxBytes) throw invalid(`checkpoint ${what} is too long`);
}

/** The note text of a checkpoint, ending in a newline. Throws ERR_PROOF_INVALID for an unformattable one. */
export function formatCheckpointBody(checkpoint: {
  origin: string;
  size: number | bigint;
  rootHash: Uint8Array;
  extensions?: readonly string[];
}): string {
  const { origin, rootHash, extensions = [] } = checkpoint;
  if (typeof origin !== 'string') throw invalid('checkpoint origin is not text');
  checkLine(origin, 'origin', MAX_ORIGIN_BYTES);
  const size = toUint63(checkpoint.size, 'checkpoint size');
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_SIZE) {
    throw invalid('checkpoint root is not a 32-byte hash');
  }
  if (extensions.length > MAX_EXTENSION_LINES) throw invalid('checkpoint has too many extension lines');
  extensions.forEach((line) => checkLine(line, 'extension line', 1024));
  return [origin, size.toString(), Buffer.from(rootHash).toString('base64'), ...extensions, ''].join('\n');
}

/** Parses a checkpoint note text (the signed body, final newline included). Throws ERR_PROOF_INVALID. */
export function parseCheckpointBody(body: string): Checkpoint {
  if (typeof body !== 'string' || !body.endsWith('\n'))
    throw invalid('checkpoint does not end with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw invalid('checkpoint has fewer than three lines');
  if (lines.length > 3 + MAX_EXTENSION_LINES) throw invalid('checkpoint has too many extension lines');
  const [origin = '', sizeLine = '', rootLine = '', ...extensions] = lines;
  checkLine(origin, 'origin', MAX_ORIGIN_BYTES);
  const size = parseDecimal(sizeLine, 'checkpoint size');
  const rootHash = decodeBase64(rootLine, 'checkpoint root');
  if (rootHash.length !== HASH_SIZE) throw invalid('checkpoint root is not a 32-byte hash');
  extensions.forEach((line) => checkLine(line, 'extension line', 1024));
  return { origin, size, rootHash, extensions };
}

export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The checkpoint's note text (what cosignatures sign). */
  readonly body: string;
  readonly signatures: readonly NoteSignature[];
}

/**
 * Verifies the log's signature on a checkpoint note and parses it. The origin must equal `options.origin`,
 * by default the log key's name (tlog-checkpoint: the key name SHOULD match the origin; we require it so a
 * log key cannot vouch for another log's tree). Throws ERR_PROOF_INVALID.
 */
export function openCheckpoint(
  noteText: string | Uint8Array,
  logVerifier: NoteVerifier,
  options: { origin?: string } = {},
): OpenedCheckpoint {
  const note = verifyNote(noteText, [logVerifier]);
  const checkpoint = parseCheckpointBody(note.body);
  if (checkpoint.origin !== (options.origin ?? logVerifier.name)) {
    throw invalid('checkpoint is for a different log origin');
  }
  return { checkpoint, body: note.body, signatures: note.signatures };
}
