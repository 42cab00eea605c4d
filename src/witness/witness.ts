/**
 * The witness role of C2SP tlog-witness (c2sp.org/tlog-witness, docs/audit.md "Witnessing other logs"):
 * `add-checkpoint` checks a log's new checkpoint against the latest one this service cosigned for that
 * origin, records it atomically, and only then cosigns it. Pure logic over a small storage interface, so
 * the HTTP adapter (src/protocols/witness) stays thin and another store backend reuses it.
 *
 * The guarantee: for one origin, the witness never cosigns two checkpoints that are not consistent with
 * each other. Every cosigned checkpoint extends the stored one (consistency proof, or equal size and
 * root), and the stored size only moves by compare-and-set from the size the proof started at.
 */
import { DkeError, isDkeError } from '../errors/index.js';
import {
  cosign,
  emptyRoot,
  HASH_SIZE,
  noteVerifier,
  openCheckpoint,
  parseCheckpointBody,
  parseNote,
  parseVerifierKey,
  isValidKeyName,
  verifyConsistency,
  KEY_TYPE_ED25519,
  type Checkpoint,
  type NoteSignerKey,
  type NoteVerifier,
} from '../transparency/index.js';
import { decodeBase64, parseDecimal, wellFormedText } from '../transparency/encoding.js';
import type { DkeStore, WitnessedLog } from '../store/index.js';

/** tlog-witness: a client MUST NOT send more than 63 consistency proof lines. */
export const MAX_PROOF_LINES = 63;
/** Old size line + 63 proof lines + blank line, with room to spare. */
const MAX_HEADER_BYTES = 4 * 1024;
/**
 * Largest add-checkpoint body: the header and a checkpoint note. A checkpoint is at most ~17 KiB of text
 * (origin 256 B, 16 extension lines of 1 KiB) plus its signature lines; 64 KiB leaves room for up to the
 * note parser's 32 signatures (the note parser's own bound, 128 KiB, is never reached).
 */
export const MAX_ADD_CHECKPOINT_BYTES = 64 * 1024;

/** What the witness needs from the store (DkeStore implements it). */
export type WitnessStore = Pick<DkeStore, 'getWitnessedLog' | 'compareAndSetWitnessedLog'>;

export interface WitnessedLogConfig {
  readonly origin: string;
  /** The log's Ed25519 note verifier key (`<name>+<key ID>+<base64>`). */
  readonly vkey: string;
}

export interface AddCheckpointRequest {
  readonly oldSize: bigint;
  readonly proof: readonly Buffer[];
  /** The signed checkpoint note as sent. */
  readonly checkpointNote: string;
}

/** The outcomes the protocol answers with a body of its own; every other refusal is a thrown DkeError. */
export type AddCheckpointResult =
  | {
      readonly status: 200;
      /** Cosignature line(s), each ending in a newline: the response body. */
      readonly cosignatures: string;
      readonly checkpoint: Checkpoint;
      /** The size stored before (the checkpoint's size grew past it when larger). */
      readonly previousSize: bigint;
    }
  | {
      readonly status: 409;
      /** The latest cosigned size: the response body. */
      readonly knownSize: bigint;
      /** 'stale': old size is not the stored size; 'fork': same size as stored, different root. */
      readonly conflict: 'stale' | 'fork';
      readonly checkpoint: Checkpoint;
    }
  | {
      /** The consistency proof does not verify (ERR_PROOF_INVALID): the log may be misbehaving. */
      readonly status: 422;
      readonly message: string;
      readonly checkpoint: Checkpoint;
    };

const badRequest = (message: string): DkeError => new DkeError('ERR_BAD_REQUEST', { message });

/**
 * Parses an add-checkpoint body strictly: `old <size>\n`, up to 63 lines of base64 32-byte hashes, an
 * empty line, then the checkpoint note (syntax checked here, signatures later). Throws ERR_BAD_REQUEST.
 */
export function parseAddCheckpointRequest(body: Uint8Array): AddCheckpointRequest {
  if (body.length > MAX_ADD_CHECKPOINT_BYTES) {
    throw new DkeError('ERR_PAYLOAD_TOO_LARGE');
  }
  try {
    const text = wellFormedText(body, 'request', MAX_ADD_CHECKPOINT_BYTES);
    // Header lines are never empty, so the first blank line ends them.
    const split = text.indexOf('\n\n');
    if (split < 0 || split > MAX_HEADER_BYTES) throw badRequest('add-checkpoint body has no header');
    const lines = text.slice(0, split).split('\n');
    const checkpointNote = text.slice(split + 2);
    const oldLine = lines.shift() ?? '';
    if (!oldLine.startsWith('old ')) throw badRequest('add-checkpoint body does not start with an old size');
    const oldSize = parseDecimal(oldLine.slice('old '.length), 'old size');
    if (lines.length > MAX_PROOF_LINES) throw badRequest('consistency proof has more than 63 lines');
    const proof = lines.map((line) => {
      const hash = decodeBase64(line, 'consistency proof hash');
      if (hash.length !== HASH_SIZE) throw badRequest('consistency proof hash is not 32 bytes');
      return hash;
    });
    parseCheckpointBody(parseNote(checkpointNote).body);
    return { oldSize, proof, checkpointNote };
  } catch (error) {
    // The transparency parsers speak ERR_PROOF_INVALID (422); a request that does not parse is a 400.
    if (isDkeError(error, 'ERR_PROOF_INVALID')) throw badRequest(error.message);
    throw error;
  }
}

/** Validates the configured logs: each vkey an Ed25519 note key named like its origin, origins distinct. */
export function logVerifiers(logs: readonly WitnessedLogConfig[]): Map<string, NoteVerifier> {
  const verifiers = new Map<string, NoteVerifier>();
  logs.forEach((log, index) => {
    const field = `audit.witness.logs[${index}]`;
    let verifier: NoteVerifier;
    try {
      if (parseVerifierKey(log.vkey).type !== KEY_TYPE_ED25519) throw new Error('not an Ed25519 key');
      verifier = noteVerifier(log.vkey);
    } catch {
      throw configInvalid(`${field}.vkey is not an Ed25519 note verifier key`);
    }
    if (verifier.name !== log.origin) {
      throw configInvalid(`${field}.vkey is named ${JSON.stringify(verifier.name)}, not its origin`);
    }
    if (verifiers.has(log.origin)) throw configInvalid(`${field}.origin is listed twice`);
    verifiers.set(log.origin, verifier);
  });
  return verifiers;
}

/** Start-up check of `audit.witness` (ERR_CONFIG_INVALID naming the field). */
export function checkWitnessConfig(config: {
  readonly name: string;
  readonly logs: readonly WitnessedLogConfig[];
}): void {
  if (!isValidKeyName(config.name)) throw configInvalid('audit.witness.name is not a valid note key name');
  logVerifiers(config.logs);
}

function configInvalid(what: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', { message: `invalid configuration: ${what}` });
}

export interface WitnessOptions {
  readonly store: WitnessStore;
  readonly logs: readonly WitnessedLogConfig[];
  /** The witness's cosignature/v1 signer key. */
  readonly signer: NoteSignerKey;
  readonly now?: () => Date;
}

export interface Witness {
  /** The witness's name (its key name). */
  readonly name: string;
  /**
   * Rejects ERR_BAD_REQUEST (400: malformed, or old size above the checkpoint size), ERR_WITNESS_UNKNOWN_LOG
   * (404), ERR_WITNESS_SIGNATURE_INVALID (403), ERR_STORE_BUSY or ERR_STORE_UNAVAILABLE (503). A consistency
   * proof that does not verify is a 422 result (not a rejection), so the caller can record the evidence.
   */
  addCheckpoint(request: AddCheckpointRequest): Promise<AddCheckpointResult>;
}

export function createWitness(options: WitnessOptions): Witness {
  const verifiers = logVerifiers(options.logs);
  const now = options.now ?? (() => new Date());
  const { store, signer } = options;
  return {
    name: signer.name,
    async addCheckpoint(request) {
      const origin = parseCheckpointBody(parseNote(request.checkpointNote).body).origin;
      const verifier = verifiers.get(origin);
      if (verifier === undefined) throw new DkeError('ERR_WITNESS_UNKNOWN_LOG');
      let opened;
      try {
        opened = openCheckpoint(request.checkpointNote, verifier, { origin });
      } catch (error) {
        if (!isDkeError(error, 'ERR_PROOF_INVALID')) throw error;
        throw new DkeError('ERR_WITNESS_SIGNATURE_INVALID', { detail: error.message });
      }
      const { checkpoint } = opened;
      const { oldSize, proof } = request;
      if (oldSize > checkpoint.size) throw badRequest('old size is larger than the checkpoint size');
      const stored = await store.getWitnessedLog(origin);
      const knownSize = stored?.size ?? 0n;
      if (oldSize !== knownSize) return { status: 409, knownSize, conflict: 'stale', checkpoint };
      if (
        stored !== undefined &&
        checkpoint.size === stored.size &&
        !checkpoint.rootHash.equals(stored.root)
      ) {
        return { status: 409, knownSize, conflict: 'fork', checkpoint };
      }
      try {
        checkConsistency(stored, checkpoint, proof);
      } catch (error) {
        if (!isDkeError(error, 'ERR_PROOF_INVALID')) throw error;
        return { status: 422, message: error.message, checkpoint };
      }
      // Comparing the size alone suffices: stored sizes only grow, and the root at a size never changes
      // (the fork check above), so an unchanged size means the state the proof was checked against.
      const at = now();
      if (
        !(await store.compareAndSetWitnessedLog(
          origin,
          oldSize,
          checkpoint.size,
          checkpoint.rootHash,
          at.toISOString(),
        ))
      ) {
        // Another submission moved the log between our read and our write: it won, this one is stale.
        const current = (await store.getWitnessedLog(origin))?.size ?? 0n;
        return { status: 409, knownSize: current, conflict: 'stale', checkpoint };
      }
      const line = cosign(opened.body, signer, Math.floor(at.getTime() / 1000));
      // formatSignatureLine ends the line already; the body is exactly the signature line(s).
      const cosignatures = line.endsWith('\n') ? line : `${line}\n`;
      return { status: 200, cosignatures, checkpoint, previousSize: knownSize };
    },
  };
}

/** The new checkpoint extends the stored one (or the empty tree). Throws ERR_PROOF_INVALID (422). */
function checkConsistency(
  stored: WitnessedLog | undefined,
  checkpoint: Checkpoint,
  proof: readonly Buffer[],
): void {
  if (checkpoint.size === 0n && !checkpoint.rootHash.equals(emptyRoot())) {
    throw new DkeError('ERR_PROOF_INVALID', { message: 'an empty tree has another root' });
  }
  if (stored === undefined || stored.size === 0n) {
    if (proof.length !== 0) {
      throw new DkeError('ERR_PROOF_INVALID', { message: 'the proof from size 0 must be empty' });
    }
    return;
  }
  verifyConsistency(stored.size, checkpoint.size, proof, stored.root, checkpoint.rootHash);
}
