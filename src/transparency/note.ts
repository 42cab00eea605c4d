/**
 * C2SP signed notes (c2sp.org/signed-note): text ending in a newline, a blank line, then one or more
 * lines `— <key name> base64(4-byte key ID || signature)`. Parsing enforces every MUST of the spec plus
 * our bounds (docs/audit.md, "Checkpoints, cosignatures and proofs: wire formats"); verification ignores
 * unknown keys, refuses the whole note when a known key's signature is bad, and needs a quorum of known
 * keys (default 1).
 */
import crypto from 'node:crypto';
import { decodeBase64, hasControlCharacter, invalid, wellFormedText } from './encoding.js';
import {
  isValidKeyName,
  KEY_TYPE_ED25519,
  parseSignerKey,
  parseVerifierKey,
  type NoteSignerKey,
} from './note-keys.js';

/** Whole-note bound: room for 16+ post-quantum signatures, far above any checkpoint we sign. */
export const MAX_NOTE_BYTES = 128 * 1024;
/** The spec requires accepting at least 16. */
export const MAX_SIGNATURES = 32;
export const MAX_BODY_LINES = 1024;
export const MAX_LINE_BYTES = 8 * 1024;

const SIGNATURE_PREFIX = '\u2014 ';

export interface NoteSignature {
  readonly name: string;
  /** The 4-byte key ID. */
  readonly keyHash: Buffer;
  /** The signature bytes after the key ID. */
  readonly signature: Buffer;
}

export interface ParsedNote {
  /** The signed text, including its final newline. */
  readonly body: string;
  readonly signatures: readonly NoteSignature[];
}

function checkLines(lines: readonly string[], what: string): void {
  for (const line of lines) {
    if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES)
      throw invalid(`${what} has a line that is too long`);
  }
}

/** Body rules shared by parsing and signing: valid text, ends in newline, no control characters but \n. */
function checkBody(body: string): void {
  if (!body.endsWith('\n')) throw invalid('note text does not end with a newline');
  if (hasControlCharacter(body, true)) throw invalid('note contains a control character');
  const lines = body.split('\n');
  if (lines.length - 1 > MAX_BODY_LINES) throw invalid('note text has too many lines');
  checkLines(lines, 'note text');
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw invalid('note signature line is malformed');
  const fields = line.slice(SIGNATURE_PREFIX.length).split(' ');
  if (fields.length !== 2) throw invalid('note signature line is malformed');
  const [name = '', encoded = ''] = fields;
  if (!isValidKeyName(name)) throw invalid('note signature has an invalid key name');
  const bytes = decodeBase64(encoded, 'note signature');
  if (bytes.length < 5) throw invalid('note signature is too short');
  return { name, keyHash: Buffer.from(bytes.subarray(0, 4)), signature: Buffer.from(bytes.subarray(4)) };
}

/** Splits and checks a signed note. Throws ERR_PROOF_INVALID for anything the spec or our bounds refuse. */
export function parseNote(text: string | Uint8Array): ParsedNote {
  const note = wellFormedText(text, 'note', MAX_NOTE_BYTES);
  if (!note.endsWith('\n')) throw invalid('note does not end with a newline');
  if (hasControlCharacter(note, true)) throw invalid('note contains a control character');
  // The text is separated from the signatures by the LAST blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw invalid('note has no signature block');
  const body = note.slice(0, split + 1);
  checkBody(body);
  const lines = note.slice(split + 2).split('\n');
  lines.pop(); // the empty string after the final newline
  if (lines.length === 0) throw invalid('note has no signatures');
  if (lines.length > MAX_SIGNATURES) throw invalid('note has too many signatures');
  checkLines(lines, 'note signature block');
  const signatures = lines.map(parseSignatureLine);
  const seen = new Set<string>();
  for (const s of signatures) {
    // Two lines for the same (name, key ID) are ambiguous. Go's note package verifies the first and skips
    // the rest; we refuse the note, so what was checked is never in doubt.
    const id = `${s.keyHash.toString('hex')} ${s.name}`;
    if (seen.has(id)) throw invalid('note has two signatures from the same key');
    seen.add(id);
  }
  return { body, signatures };
}

/** A known key: its identity in signature lines and how it checks a signature over the note text. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: Uint8Array;
  verify(body: Buffer, signature: Buffer): boolean;
}

/** A verifier for a type-0x01 (Ed25519 over the note text) vkey string. Throws ERR_PROOF_INVALID. */
export function noteVerifier(vkey: string): NoteVerifier {
  const key = parseVerifierKey(vkey);
  if (key.type !== KEY_TYPE_ED25519) throw invalid('verifier key is not an Ed25519 note key');
  return {
    name: key.name,
    keyHash: key.keyHash,
    verify: (body, signature) =>
      signature.length === 64 && crypto.verify(null, body, key.keyObject, signature),
  };
}

function sameKey(
  a: { name: string; keyHash: Uint8Array },
  b: { name: string; keyHash: Uint8Array },
): boolean {
  return a.name === b.name && Buffer.from(a.keyHash).equals(Buffer.from(b.keyHash));
}

/** Refuses a verifier list where two entries claim the same (name, key ID): which one counts is ambiguous. */
export function checkDistinctVerifiers(verifiers: readonly { name: string; keyHash: Uint8Array }[]): void {
  verifiers.forEach((v, k) => {
    if (verifiers.slice(0, k).some((w) => sameKey(v, w)))
      throw invalid('two verifier keys share a name and key ID');
  });
}

export interface VerifiedNote {
  readonly body: string;
  /** The known keys whose signature verified, in the order given. */
  readonly verifiedBy: readonly NoteVerifier[];
  readonly signatures: readonly NoteSignature[];
}

/**
 * Verifies a signed note against known keys. Signatures from unknown keys (name or key ID differ) are
 * ignored; a known key whose signature does not verify refuses the whole note; at least `quorum` (default
 * 1) distinct known keys must verify. Throws ERR_PROOF_INVALID.
 */
export function verifyNote(
  text: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  options: { quorum?: number } = {},
): VerifiedNote {
  const quorum = options.quorum ?? 1;
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > verifiers.length) {
    throw invalid('note quorum is not satisfiable by the given keys');
  }
  checkDistinctVerifiers(verifiers);
  const note = parseNote(text);
  const message = Buffer.from(note.body, 'utf8');
  const verifiedBy: NoteVerifier[] = [];
  for (const verifier of verifiers) {
    const signature = note.signatures.find((s) => sameKey(s, verifier));
    if (signature === undefined) continue;
    if (!verifier.verify(message, signature.signature)) {
      throw invalid(`note signature by ${verifier.name} does not verify`);
    }
    verifiedBy.push(verifier);
  }
  if (verifiedBy.length < quorum) {
    throw invalid(
      verifiedBy.length === 0
        ? 'note has no signature from a known key'
        : 'note has too few signatures from known keys',
    );
  }
  return { body: note.body, verifiedBy, signatures: note.signatures };
}

/** One signature line `— <name> base64(key ID || signature)\n`. */
export function formatSignatureLine(name: string, keyHash: Uint8Array, signature: Uint8Array): string {
  if (!isValidKeyName(name) || keyHash.length !== 4) throw invalid('signature key is invalid');
  return `${SIGNATURE_PREFIX}${name} ${Buffer.concat([keyHash, signature]).toString('base64')}\n`;
}

/** Signs `body` (text ending in a newline) with type-0x01 signer keys; returns the whole note. */
export function signNote(body: string, signers: readonly (string | NoteSignerKey)[]): string {
  if (typeof body !== 'string') throw invalid('note text is not text');
  wellFormedText(body, 'note text', MAX_NOTE_BYTES);
  checkBody(body);
  if (signers.length === 0) throw invalid('a note needs at least one signer');
  const keys = signers.map((s) => (typeof s === 'string' ? parseSignerKey(s) : s));
  if (keys.some((k) => k.type !== KEY_TYPE_ED25519)) throw invalid('signer key is not an Ed25519 note key');
  checkDistinctVerifiers(keys);
  const message = Buffer.from(body, 'utf8');
  const lines = keys.map((k) =>
    formatSignatureLine(k.name, k.keyHash, crypto.sign(null, message, k.privateKey)),
  );
  return appendSignatures(`${body}\n${lines.shift() ?? ''}`, lines);
}

/** Adds signature lines (e.g. witness cosignatures) to a note; the result is parsed again to stay valid. */
export function appendSignatures(noteText: string, lines: readonly string[]): string {
  const result = noteText + lines.join('');
  parseNote(result);
  return result;
}
