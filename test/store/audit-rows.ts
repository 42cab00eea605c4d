/** Audit rows for the store tests: chained by seq and previous hash (the store does not recompute hashes). */
import type { AuditRow, AuditTail } from '../../src/store/index.js';

export const T0 = '2025-01-01T00:00:00.000Z';

/** An audit row that follows `tail` (the first row when there is none); `fields` override. */
export function auditRow(tail: AuditTail | undefined, fields: Partial<AuditRow> = {}): AuditRow {
  const seq = (tail?.seq ?? 0) + 1;
  return {
    seq,
    time: T0,
    prevHash: tail?.hash ?? '0'.repeat(64),
    hash: `h${seq}`.padEnd(64, '0'),
    action: 'native.unwrap',
    result: 'allowed',
    reason: null,
    issuer: null,
    subject: null,
    userName: null,
    keyName: null,
    keyVersion: null,
    keyId: null,
    objectId: null,
    clientAddress: null,
    requestId: null,
    ...fields,
  };
}

/** Rows for `specs`, each following the one before (the first follows `tail`). */
export function chainedRows(specs: readonly Partial<AuditRow>[], tail: AuditTail | undefined): AuditRow[] {
  const rows: AuditRow[] = [];
  let last = tail;
  for (const spec of specs) {
    const row = auditRow(last, spec);
    rows.push(row);
    last = { seq: row.seq, hash: row.hash };
  }
  return rows;
}
