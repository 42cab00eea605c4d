/**
 * What an operator with write access to the database can do to the audit log (the attack the Merkle log,
 * checkpoints and witnesses exist for): drop the append-only triggers, change one record's subject, and
 * recompute every later chain hash, so the chain verifies on its own; the tree is deleted, so the next
 * write open rebuilds it over the rewritten records.
 */
import { auditRecordHash, type HashedFields } from '../../src/audit/index.js';
import type { AuditRow, SqliteStore } from '../../src/store/index.js';

export async function rewriteAuditLog(
  store: SqliteStore,
  fromSeq: number,
  subject = 'someone-else',
): Promise<void> {
  const db = store.unsafeDatabase();
  db.exec(
    'DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; ' +
      'DROP TRIGGER IF EXISTS audit_tree_no_update; DROP TRIGGER IF EXISTS audit_tree_no_delete; ' +
      'DELETE FROM audit_tree;',
  );
  const last = (await store.auditTail())?.seq ?? 0;
  let prevHash = ((await store.getAuditRow(fromSeq - 1)) as AuditRow).hash;
  for (let seq = fromSeq; seq <= last; seq++) {
    const row = (await store.getAuditRow(seq)) as AuditRow;
    const changed: HashedFields = { ...row, prevHash, ...(seq === fromSeq ? { subject } : {}) };
    const hash = auditRecordHash(changed);
    db.prepare('UPDATE audit_log SET subject = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(
      changed.subject,
      prevHash,
      hash,
      seq,
    );
    prevHash = hash;
  }
}
