/**
 * One audit append inside its transaction (docs/storage.md, "Several instances, one audit log"): lock the
 * head row every instance's append locks first, check tree and log agree and read the tree's right border,
 * build the rows, then write rows, tree nodes and the new head in one statement.
 */
import type pg from 'pg';
import { leavesOfRows, nodesForAppend, rightBorder, treeUnavailable } from '../audit-tree-append.js';
import type { AuditRow, AuditTail } from '../types.js';
import { AUDIT_COLUMNS, AUDIT_UNNEST, auditColumnArrays } from './rows.js';
import { encodeText } from './text-codec.js';

export async function appendInTransaction(
  c: pg.PoolClient,
  build: (tail: AuditTail | undefined) => readonly AuditRow[],
): Promise<readonly AuditRow[]> {
  // Every instance's append locks this row first: from here until COMMIT no one else appends.
  const head = await c.query<{ seq: number; hash: string | null; treeSize: number }>({
    name: 'opendke_audit_lock_head',
    text: 'SELECT seq, hash, tree_size AS "treeSize" FROM audit_head WHERE id = 1 FOR UPDATE',
  });
  const { seq, hash, treeSize } = head.rows[0] ?? { seq: 0, hash: null, treeSize: 0 };
  // Refuse before building anything when tree and log disagree; read the border the new nodes need.
  const border = await checkTreeCovers(c, seq, treeSize);
  const rows = build(seq === 0 || hash === null ? undefined : { seq, hash });
  if (rows.length === 0) return rows;
  const nodes = nodesForAppend(treeSize, border, leavesOfRows(treeSize, rows));
  const last = rows[rows.length - 1] as AuditRow;
  // Rows, tree nodes and head in one statement: one round trip whatever the batch size.
  await c.query({
    name: 'opendke_audit_append',
    text: `WITH r AS (
             INSERT INTO audit_log (${AUDIT_COLUMNS}) SELECT * FROM ${AUDIT_UNNEST}
           ), t AS (
             INSERT INTO audit_tree (level, idx, hash) SELECT * FROM unnest($17::smallint[], $18::bigint[], $19::bytea[])
           )
           UPDATE audit_head SET seq = $20, hash = $21, tree_size = $22 WHERE id = 1`,
    values: [
      ...auditColumnArrays(rows),
      nodes.map((n) => n.level),
      nodes.map((n) => n.index),
      nodes.map((n) => n.hash),
      last.seq,
      encodeText(last.hash),
      treeSize + rows.length,
    ],
  });
  return rows;
}

/**
 * Inside an append, after the head is locked: the stored records and tree must both be exactly the head's
 * size, else nothing is appended (ERR_AUDIT_UNAVAILABLE). Reads, in the same statement, the tree's right
 * border (at most one node per level: all an append builds on), in border order. A statement after the
 * lock has a fresh snapshot, so it sees what the previous append committed.
 */
async function checkTreeCovers(c: pg.PoolClient, headSeq: number, treeSize: number): Promise<Buffer[]> {
  const border = rightBorder(treeSize);
  const result = await c.query<{ ord: number; idx: number; hash: Buffer | null }>({
    name: 'opendke_audit_border',
    text: `SELECT -1 AS ord, (SELECT coalesce(max(seq), 0) FROM audit_log) AS idx, NULL::bytea AS hash
           UNION ALL
           SELECT -2, (SELECT coalesce(max(idx) + 1, 0) FROM audit_tree WHERE level = 0), NULL
           UNION ALL
           SELECT q.ord, q.idx, t.hash
             FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
             LEFT JOIN audit_tree t ON t.level = q.level AND t.idx = q.idx`,
    values: [border.map((n) => n.level), border.map((n) => n.index)],
  });
  const records = result.rows.find((r) => r.ord === -1)?.idx ?? 0;
  const leaves = result.rows.find((r) => r.ord === -2)?.idx ?? 0;
  if (records !== headSeq || leaves !== treeSize || treeSize !== headSeq) {
    throw treeUnavailable(
      `the audit tree covers ${leaves} records (head: ${treeSize}) but the log has ${records} (head: ${headSeq})`,
    );
  }
  const hashes = result.rows.filter((r) => r.ord > 0).sort((a, b) => a.ord - b.ord);
  return border.map(({ level, index }, k) => {
    const hash = hashes[k]?.hash;
    if (hash === null || hash === undefined)
      throw treeUnavailable(`audit tree node (${level}, ${index}) is missing`);
    return hash;
  });
}
