/**
 * Receipts and proof bundles of the OpenDKE audit log (docs/audit.md, "Receipts and proof bundles"): one
 * C2SP tlog-proof whose `extra` is the UTF-8 canonical text of the audit record it proves. Verifying one
 * needs only the log's verifier key (and, for a witness policy, the witnesses' keys): no store, no network.
 *
 * `extra` is not authenticated by the tlog-proof format itself; it is here, because the leaf the inclusion
 * proof is checked for is hashLeaf(extra): a changed byte of the record changes the leaf and the proof fails.
 */
import { invalid } from './encoding.js';
import { parseAuditRecordText, type AuditRecordFields } from './audit-record-text.js';
import type { Checkpoint } from './checkpoint.js';
import type { CosignatureVerifier, VerifiedCosigner } from './cosignature.js';
import { noteVerifier, type NoteVerifier } from './note.js';
import { parseTlogProof, verifyTlogProof } from './tlog-proof.js';

/** Fields a receipt's record must have; each given one is compared exactly. */
export interface ReceiptExpectation {
  readonly action?: string;
  readonly result?: string;
  readonly keyId?: string;
  readonly objectId?: string;
  readonly requestId?: string;
}

export interface ReceiptOptions {
  /** The log's verifier key (vkey string, type 0x01) or a verifier made from it; its name is the origin. */
  readonly logVerifierKey: string | NoteVerifier;
  readonly expect?: ReceiptExpectation;
  /** Witness policy: when given, `quorum` (default all) of them must have cosigned the checkpoint. */
  readonly witnesses?: readonly CosignatureVerifier[];
  readonly quorum?: number;
  /** Cosignatures older than this do not count toward the quorum. */
  readonly maxAgeSeconds?: number;
  /** POSIX seconds for the cosignature age checks; default the clock. */
  readonly now?: number;
}

export interface VerifiedReceipt {
  /** Entry index in the log's Merkle tree (= record.seq - 1). */
  readonly index: number;
  readonly record: AuditRecordFields;
  /** The signed checkpoint the record is proven in. */
  readonly checkpoint: Checkpoint;
  /** Witnesses whose cosignature counted (empty without a witness policy). */
  readonly cosigners: readonly VerifiedCosigner[];
}

const EXPECTED_FIELDS = ['action', 'result', 'keyId', 'objectId', 'requestId'] as const;

/**
 * Verifies a receipt or proof bundle: the log's signature and origin on its checkpoint, the witness quorum
 * when a policy is given, the inclusion of hashLeaf(extra) at `index`, that extra is a canonical audit
 * record with seq = index + 1, and every expectation. Throws ERR_PROOF_INVALID with a public message.
 */
export function verifyReceipt(text: string | Uint8Array, options: ReceiptOptions): VerifiedReceipt {
  const logVerifier =
    typeof options.logVerifierKey === 'string'
      ? noteVerifier(options.logVerifierKey)
      : options.logVerifierKey;
  if (options.quorum !== undefined && options.witnesses === undefined) {
    throw invalid('a witness quorum needs witness keys');
  }
  const { extra } = parseTlogProof(text);
  if (extra === undefined) throw invalid('receipt carries no audit record');
  const verified = verifyTlogProof(text, { entry: extra }, logVerifier, {
    ...(options.witnesses === undefined ? {} : { witnesses: options.witnesses }),
    ...(options.quorum === undefined ? {} : { quorum: options.quorum }),
    ...(options.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: options.maxAgeSeconds }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const record = parseAuditRecordText(extra);
  if (BigInt(record.seq) - 1n !== verified.index) {
    throw invalid('receipt index is not the audit record seq - 1');
  }
  const expect = options.expect ?? {};
  for (const field of EXPECTED_FIELDS) {
    const wanted = expect[field];
    if (wanted !== undefined && record[field] !== wanted) {
      throw invalid(`receipt records another ${field} than expected`);
    }
  }
  return {
    index: Number(verified.index),
    record,
    checkpoint: verified.checkpoint,
    cosigners: verified.cosigners,
  };
}
