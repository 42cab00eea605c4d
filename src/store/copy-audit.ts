/**
 * The audit log part of `dke store copy` (docs/storage.md, "Copying a store"): streams the source's records
 * in seq order and appends them to the target verbatim, in batches, never holding more than one batch (and
 * the backend's read page) in memory. The target computes its Merkle tree itself as it appends.
 *
 * Each record is checked on the way (its seq follows, its hash is the hash of its fields, its prevHash the
 * previous record's hash): a damaged source fails the copy at the first bad record instead of being copied
 * into a fresh store. Each batch checks that the target's tail is exactly the last record copied, so a
 * process writing to the target meanwhile fails the copy rather than interleaving with it.
 */
import { DkeError } from '../errors/index.js';
import { canonicalAuditText, chainAndLeafHash, GENESIS_HASH } from '../audit/canonical.js';
import { CompactRange } from '../transparency/compact-range.js';
import type { AuditRow, AuditTail, DkeStore } from './types.js';

/** Records per append: one transaction (one statement on PostgreSQL) each. */
export const AUDIT_COPY_BATCH_ROWS = 1000;

export interface AuditCopyOptions {
  readonly batchRows?: number;
  /** After each committed batch: records copied so far. */
  readonly onBatch?: (copied: number) => void;
}

export interface AuditCopyResult {
  readonly records: number;
  readonly tail: AuditTail | undefined;
  /** RFC 6962 root of the copied records, computed from the source's records as they were read. */
  readonly rootHash: Buffer;
}

function broken(seq: number, reason: string): DkeError {
  return new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
    message: `the source's audit log is broken at record ${seq}: ${reason}`,
    hint: `run dke audit verify on the source and investigate record ${seq}; nothing after it was copied`,
  });
}

/** Checks that `row` continues the chain ending at `previous`; returns its Merkle leaf hash. */
function checkedLeaf(row: AuditRow, previous: AuditTail | undefined): Buffer {
  const expectedSeq = (previous?.seq ?? 0) + 1;
  if (row.seq !== expectedSeq) {
    throw broken(expectedSeq, `record ${expectedSeq} is missing or out of order (read ${row.seq})`);
  }
  if (row.prevHash !== (previous?.hash ?? GENESIS_HASH)) {
    throw broken(row.seq, `prevHash is not the hash of record ${row.seq - 1}`);
  }
  const [hash, leaf] = chainAndLeafHash(canonicalAuditText(row));
  if (hash !== row.hash) throw broken(row.seq, 'the record does not match its hash (a field was changed)');
  return leaf;
}

const sameTail = (a: AuditTail | undefined, b: AuditTail | undefined): boolean =>
  a === undefined || b === undefined ? a === b : a.seq === b.seq && a.hash === b.hash;

/** Appends one batch after `expected`, refusing if the target's tail is anything else. */
async function appendBatch(
  target: DkeStore,
  expected: AuditTail | undefined,
  rows: readonly AuditRow[],
): Promise<void> {
  await target.appendAuditRows((tail) => {
    if (!sameTail(tail, expected)) {
      throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
        message: `the target's audit log ends at record ${tail?.seq ?? 0}, not at ${expected?.seq ?? 0} as copied: another process writes to the target`,
      });
    }
    return rows;
  });
}

export async function copyAuditLog(
  source: DkeStore,
  target: DkeStore,
  options: AuditCopyOptions = {},
): Promise<AuditCopyResult> {
  const batchRows = options.batchRows ?? AUDIT_COPY_BATCH_ROWS;
  const tree = new CompactRange();
  let committed: AuditTail | undefined;
  let last: AuditTail | undefined;
  let batch: AuditRow[] = [];
  const flush = async (): Promise<void> => {
    await appendBatch(target, committed, batch);
    committed = last;
    batch = [];
    options.onBatch?.(committed?.seq ?? 0);
  };
  for await (const row of source.iterateAuditRows()) {
    tree.append(checkedLeaf(row, last));
    last = { seq: row.seq, hash: row.hash };
    batch.push(row);
    if (batch.length >= batchRows) await flush();
  }
  if (batch.length > 0) await flush();
  return { records: last?.seq ?? 0, tail: last, rootHash: tree.root() };
}
