/**
 * C2SP tlog-proof v1 (c2sp.org/tlog-proof): an offline-verifiable proof that an entry is in a log.
 *
 *   c2sp.org/tlog-proof@v1\n
 *   [extra <base64 opaque data>\n]        (omitted when there is none; never authenticated)
 *   index <decimal>\n
 *   <base64 32-byte hash>\n ...           (RFC 6962 inclusion proof, leaf's sibling first)
 *   \n
 *   <checkpoint signed note, verbatim>
 */
import { decodeBase64, invalid, parseDecimal, toUint63, wellFormedText } from './encoding.js';
import { openCheckpoint, parseCheckpointBody, type Checkpoint } from './checkpoint.js';
import { verifyCosignatures, type CosignatureVerifier, type VerifiedCosigner } from './cosignature.js';
import { hashLeaf, HASH_SIZE, verifyInclusion } from './merkle.js';
import { MAX_NOTE_BYTES, parseNote, type NoteVerifier } from './note.js';

const HEADER = 'c2sp.org/tlog-proof@v1';
/** At most one hash per tree level below 2^63. */
export const MAX_PROOF_HASHES = 63;
/**
 * Room for the longest audit record an OpenDKE receipt carries as extra (audit-record-text.ts: ten text
 * fields of up to 1024 characters, up to 6 bytes each once JSON-escaped, about 62 KB).
 */
export const MAX_EXTRA_BYTES = 64 * 1024;
/** The note, the base64 of the largest extra (4/3 of it), and the header and proof lines. */
const MAX_PROOF_BYTES = MAX_NOTE_BYTES + 96 * 1024 + 16 * 1024;

export interface TlogProof {
  readonly index: bigint;
  readonly proof: readonly Buffer[];
  /** The checkpoint note, verbatim (signatures included). */
  readonly checkpointNote: string;
  /** Opaque, unauthenticated application data, if present. */
  readonly extra?: Buffer;
}

/** Formats a proof. The checkpoint note must itself parse as a signed note. Throws ERR_PROOF_INVALID. */
export function formatTlogProof(proof: {
  index: number | bigint;
  proof: readonly Uint8Array[];
  checkpointNote: string;
  extra?: Uint8Array;
}): string {
  const index = toUint63(proof.index, 'proof index');
  if (proof.proof.length > MAX_PROOF_HASHES) throw invalid('inclusion proof is too long');
  if (proof.proof.some((h) => !(h instanceof Uint8Array) || h.length !== HASH_SIZE)) {
    throw invalid('inclusion proof hash is not 32 bytes');
  }
  parseCheckpointBody(parseNote(proof.checkpointNote).body);
  const lines = [HEADER];
  if (proof.extra !== undefined) {
    if (proof.extra.length === 0 || proof.extra.length > MAX_EXTRA_BYTES)
      throw invalid('proof extra data size is invalid');
    lines.push(`extra ${Buffer.from(proof.extra).toString('base64')}`);
  }
  lines.push(`index ${index.toString()}`, ...proof.proof.map((h) => Buffer.from(h).toString('base64')), '');
  return `${lines.join('\n')}\n${proof.checkpointNote}`;
}

/** Parses a proof's layout and its checkpoint's syntax (no signature is checked). Throws ERR_PROOF_INVALID. */
export function parseTlogProof(text: string | Uint8Array): TlogProof {
  const whole = wellFormedText(text, 'proof', MAX_PROOF_BYTES);
  // Header lines are all non-empty, so the first blank line ends them.
  const split = whole.indexOf('\n\n');
  if (split < 0) throw invalid('proof has no checkpoint');
  const lines = whole.slice(0, split).split('\n');
  const checkpointNote = whole.slice(split + 2);
  if (lines.shift() !== HEADER) throw invalid('proof does not start with c2sp.org/tlog-proof@v1');
  let extra: Buffer | undefined;
  if (lines[0]?.startsWith('extra ')) {
    extra = decodeBase64(lines[0].slice('extra '.length), 'proof extra data');
    if (extra.length === 0 || extra.length > MAX_EXTRA_BYTES)
      throw invalid('proof extra data size is invalid');
    lines.shift();
  }
  const indexLine = lines.shift();
  if (indexLine === undefined || !indexLine.startsWith('index ')) throw invalid('proof has no index line');
  const index = parseDecimal(indexLine.slice('index '.length), 'proof index');
  if (lines.length > MAX_PROOF_HASHES) throw invalid('inclusion proof is too long');
  const proof = lines.map((line) => {
    const hash = decodeBase64(line, 'inclusion proof hash');
    if (hash.length !== HASH_SIZE) throw invalid('inclusion proof hash is not 32 bytes');
    return hash;
  });
  // The checkpoint's syntax too, so a parsed proof is always a well-formed one (signatures are not checked).
  parseCheckpointBody(parseNote(checkpointNote).body);
  return { index, proof, checkpointNote, ...(extra === undefined ? {} : { extra }) };
}

export interface TlogProofOptions {
  /** Expected origin; default the log key's name. */
  readonly origin?: string;
  /** Witness policy: when given, `quorum` current cosignatures from these witnesses are required. */
  readonly witnesses?: readonly CosignatureVerifier[];
  readonly quorum?: number;
  readonly maxAgeSeconds?: number;
  readonly now?: number;
}

export interface VerifiedTlogProof {
  readonly index: bigint;
  readonly checkpoint: Checkpoint;
  readonly cosigners: readonly VerifiedCosigner[];
  readonly extra?: Buffer;
}

/**
 * Verifies a proof for an entry (given as its bytes, hashed as an RFC 6962 leaf, or as the leaf hash): the
 * log's signature and origin, the witness quorum if a policy is given, and the inclusion proof against the
 * checkpoint's root. Returns the checkpoint it verified against. Throws ERR_PROOF_INVALID.
 */
export function verifyTlogProof(
  text: string | Uint8Array,
  leaf: { readonly entry: Uint8Array } | { readonly leafHash: Uint8Array },
  logVerifier: NoteVerifier,
  options: TlogProofOptions = {},
): VerifiedTlogProof {
  const parsed = parseTlogProof(text);
  const { checkpoint } = openCheckpoint(parsed.checkpointNote, logVerifier, {
    ...(options.origin === undefined ? {} : { origin: options.origin }),
  });
  let cosigners: readonly VerifiedCosigner[] = [];
  if (options.witnesses !== undefined) {
    cosigners = verifyCosignatures(parsed.checkpointNote, options.witnesses, {
      quorum: options.quorum ?? options.witnesses.length,
      ...(options.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: options.maxAgeSeconds }),
      ...(options.now === undefined ? {} : { now: options.now }),
    }).cosigners;
  }
  const leafHash = 'entry' in leaf ? hashLeaf(leaf.entry) : leaf.leafHash;
  verifyInclusion(parsed.index, checkpoint.size, leafHash, parsed.proof, checkpoint.rootHash);
  return {
    index: parsed.index,
    checkpoint,
    cosigners,
    ...(parsed.extra === undefined ? {} : { extra: parsed.extra }),
  };
}
