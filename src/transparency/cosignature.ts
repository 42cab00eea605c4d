/**
 * C2SP tlog-cosignature, Ed25519 "cosignature/v1" (c2sp.org/tlog-cosignature). Key ID uses type byte 0x04;
 * the signed message is "cosignature/v1\ntime <T>\n" followed by the checkpoint note text; the signature
 * line carries key ID || u64 big-endian T || 64-byte Ed25519 signature. T ≤ 2^63 - 1. The Ed25519 form
 * does not commit to the witness name, so the same public key under two names is refused (it would count
 * twice toward a quorum).
 */
import crypto from 'node:crypto';
import { invalid, toUint63 } from './encoding.js';
import { parseCheckpointBody, type Checkpoint } from './checkpoint.js';
import {
  KEY_TYPE_COSIGNATURE_V1,
  parseSignerKey,
  parseVerifierKey,
  type NoteSignerKey,
} from './note-keys.js';
import { checkDistinctVerifiers, formatSignatureLine, parseNote } from './note.js';

export interface CosignatureVerifier {
  readonly name: string;
  readonly keyHash: Buffer;
  readonly publicKey: Buffer;
  readonly keyObject: crypto.KeyObject;
}

/** A witness verifier from a type-0x04 vkey string. Throws ERR_PROOF_INVALID. */
export function cosignatureVerifier(vkey: string): CosignatureVerifier {
  const key = parseVerifierKey(vkey);
  if (key.type !== KEY_TYPE_COSIGNATURE_V1) throw invalid('verifier key is not a cosignature/v1 key');
  return { name: key.name, keyHash: key.keyHash, publicKey: key.publicKey, keyObject: key.keyObject };
}

/** The exact bytes a cosignature/v1 signs. */
export function cosignedMessage(checkpointBody: string, timestamp: bigint): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp.toString()}\n${checkpointBody}`, 'utf8');
}

/**
 * A witness's signature line over a checkpoint body at `time` (POSIX seconds). The body is parsed first, so
 * a witness never signs something that is not a checkpoint. Consistency checking is the witness's job.
 */
export function cosign(
  checkpointBody: string,
  witnessSigner: string | NoteSignerKey,
  time: number | bigint,
): string {
  parseCheckpointBody(checkpointBody);
  const key = typeof witnessSigner === 'string' ? parseSignerKey(witnessSigner) : witnessSigner;
  if (key.type !== KEY_TYPE_COSIGNATURE_V1) throw invalid('signer key is not a cosignature/v1 key');
  const timestamp = toUint63(time, 'cosignature time');
  const stamp = Buffer.alloc(8);
  stamp.writeBigUInt64BE(timestamp);
  const signature = crypto.sign(null, cosignedMessage(checkpointBody, timestamp), key.privateKey);
  return formatSignatureLine(key.name, key.keyHash, Buffer.concat([stamp, signature]));
}

export interface VerifiedCosigner {
  readonly name: string;
  readonly keyHash: Buffer;
  /** POSIX seconds the witness signed at. */
  readonly timestamp: bigint;
}

export interface CosignatureOptions {
  /** Distinct witnesses that must have cosigned (1 ≤ quorum ≤ witnesses). */
  readonly quorum: number;
  /** Cosignatures older than this (relative to `now`) do not count toward the quorum. */
  readonly maxAgeSeconds?: number;
  /** POSIX seconds; default the clock. */
  readonly now?: number;
  /** Cosignatures dated further than this in the future are refused as not counting; default 300. */
  readonly maxFutureSeconds?: number;
}

export interface VerifiedCosignatures {
  readonly checkpoint: Checkpoint;
  readonly cosigners: readonly VerifiedCosigner[];
}

/**
 * Verifies the witnesses' cosignatures on a checkpoint note. Lines from unknown keys (the log's own
 * signature included) are ignored; a known witness's line that is malformed or does not verify refuses the
 * whole note; stale or future-dated cosignatures do not count; at least `quorum` must count. This does NOT
 * check the log's signature: use openCheckpoint for that. Throws ERR_PROOF_INVALID.
 */
export function verifyCosignatures(
  noteText: string | Uint8Array,
  witnesses: readonly CosignatureVerifier[],
  options: CosignatureOptions,
): VerifiedCosignatures {
  const { quorum, maxAgeSeconds, maxFutureSeconds = 300 } = options;
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > witnesses.length) {
    throw invalid('cosignature quorum is not satisfiable by the given witnesses');
  }
  for (const n of [maxAgeSeconds, maxFutureSeconds]) {
    if (n !== undefined && (!Number.isSafeInteger(n) || n < 0))
      throw invalid('cosignature age limit is invalid');
  }
  const nowSeconds = Math.floor(options.now ?? Date.now() / 1000);
  if (!Number.isSafeInteger(nowSeconds) || nowSeconds < 0)
    throw invalid('cosignature reference time is invalid');
  const now = BigInt(nowSeconds);
  checkDistinctVerifiers(witnesses);
  witnesses.forEach((w, k) => {
    if (witnesses.slice(0, k).some((o) => o.publicKey.equals(w.publicKey))) {
      throw invalid('two witnesses share a public key');
    }
  });
  const note = parseNote(noteText);
  const checkpoint = parseCheckpointBody(note.body);
  const cosigners: VerifiedCosigner[] = [];
  for (const witness of witnesses) {
    const line = note.signatures.find((s) => s.name === witness.name && s.keyHash.equals(witness.keyHash));
    if (line === undefined) continue;
    if (line.signature.length !== 72) throw invalid(`cosignature by ${witness.name} is malformed`);
    const timestamp = line.signature.readBigUInt64BE(0);
    if (timestamp > 2n ** 63n - 1n) throw invalid(`cosignature by ${witness.name} is malformed`);
    const message = cosignedMessage(note.body, timestamp);
    if (!crypto.verify(null, message, witness.keyObject, line.signature.subarray(8))) {
      throw invalid(`cosignature by ${witness.name} does not verify`);
    }
    if (timestamp > now + BigInt(maxFutureSeconds)) continue;
    if (maxAgeSeconds !== undefined && timestamp < now - BigInt(maxAgeSeconds)) continue;
    cosigners.push({ name: witness.name, keyHash: witness.keyHash, timestamp });
  }
  if (cosigners.length < quorum) throw invalid('checkpoint has too few current witness cosignatures');
  return { checkpoint, cosigners };
}
