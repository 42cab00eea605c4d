/**
 * Receipts and proof bundles (docs/audit.md, "Receipts"): a C2SP tlog-proof whose index is the record's
 * entry index (seq - 1), whose proof is the inclusion proof up to a signed checkpoint covering it, and whose
 * extra data is the record's canonical text (the leaf's entry bytes). One format for the native unwrap
 * answer's `receipt`, the admin receipt route and `dke audit prove`.
 */
import { appendSignatures, formatTlogProof } from '../transparency/index.js';
import type { CheckpointRow, DkeStore } from '../store/index.js';
import type { AuditRecord } from '../service/contracts.js';
import { canonicalAuditText } from './canonical.js';

/** The canonical text of a record as read back (absent optional fields are null in the text). */
export function recordCanonicalText(record: AuditRecord): string {
  return canonicalAuditText({
    seq: record.seq,
    time: record.time,
    prevHash: record.prevHash,
    action: record.action,
    result: record.result,
    reason: record.reason ?? null,
    issuer: record.issuer ?? null,
    subject: record.subject ?? null,
    userName: record.userName ?? null,
    keyName: record.keyName ?? null,
    keyVersion: record.keyVersion ?? null,
    keyId: record.keyId ?? null,
    objectId: record.objectId ?? null,
    clientAddress: record.clientAddress ?? null,
    requestId: record.requestId ?? null,
  });
}

/** What a receipt needs of the log: inclusion proofs. */
export interface ProvingLog {
  inclusionProof(index: number, size: number): Promise<Buffer[]>;
}

/**
 * The tlog-proof of `record` against the checkpoint note of `size` entries (size > record's index).
 * Rejects ERR_PROOF_INVALID when the record's text exceeds the tlog-proof extra limit (4 KiB).
 */
export async function formatReceipt(
  log: ProvingLog,
  record: AuditRecord,
  checkpoint: { readonly size: number; readonly note: string },
): Promise<string> {
  const index = record.seq - 1;
  return formatTlogProof({
    index,
    proof: await log.inclusionProof(index, checkpoint.size),
    checkpointNote: checkpoint.note,
    extra: Buffer.from(recordCanonicalText(record), 'utf8'),
  });
}

/** A persisted checkpoint's note with the witness cosignature lines stored for its size appended. */
export async function cosignedNote(
  store: Pick<DkeStore, 'listCosignatures'>,
  row: CheckpointRow,
): Promise<string> {
  return appendSignatures(
    row.note,
    (await store.listCosignatures(row.size)).map((c) => c.line),
  );
}
