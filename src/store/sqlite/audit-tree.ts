/**
 * The audit log's RFC 6962 Merkle tree in SQLite (docs/audit.md, "Merkle tree"): table audit_tree keeps the
 * hash of every complete subtree, node (level, idx) covering entries [idx·2^level, (idx+1)·2^level). Entry i
 * is the record with seq i+1; its leaf is hashLeaf(UTF-8 canonical text), the same text the hash chain hashes.
 * An append writes its leaf and the nodes it completes (src/store/audit-tree-append.ts), so the tree grows
 * incrementally and never needs the leaves again; roots and proofs read O(log n) nodes.
 */
import { performance } from 'node:perf_hooks';
import type { Database as Db, Statement } from 'better-sqlite3';
import { auditLeafHash } from '../../audit/canonical.js';
import type { NodeId } from '../../transparency/proof-plan.js';
import { nodesForAppend, rightBorder, treeUnavailable } from '../audit-tree-append.js';

/** Leaves hashed per transaction when an older store's tree is built (bounded lock hold, resumable). */
export const BACKFILL_LEAVES_PER_TRANSACTION = 10_000;

export interface TreeBackfill {
  /** Leaves added by this open (0: the tree was complete). */
  readonly leaves: number;
  readonly ms: number;
}

export interface TreeStatements {
  readonly size: Statement;
  readonly node: Statement;
  readonly insert: Statement;
}

export function prepareTreeStatements(db: Db): TreeStatements {
  return {
    // max over the primary key: O(log n), no scan.
    size: db.prepare('SELECT coalesce(max(idx) + 1, 0) FROM audit_tree WHERE level = 0').pluck(),
    node: db.prepare('SELECT hash FROM audit_tree WHERE level = ? AND idx = ?').pluck(),
    insert: db.prepare('INSERT INTO audit_tree (level, idx, hash) VALUES (?, ?, ?)'),
  };
}

export function storedTreeSize(sql: TreeStatements): number {
  return sql.size.get() as number;
}

/** The stored hashes of `ids`, in order. A missing node means a damaged tree: fail closed. */
export function readTreeNodes(sql: TreeStatements, ids: readonly NodeId[]): Buffer[] {
  return ids.map(({ level, index }) => {
    const hash = sql.node.get(level, index) as Buffer | undefined;
    if (hash === undefined) throw treeUnavailable(`audit tree node (${level}, ${index}) is missing`);
    return hash;
  });
}

/**
 * Writes the leaves of entries firstIndex, firstIndex+1, ... and every node they complete. Call inside the
 * transaction that stores the entries; `firstIndex` must be the stored tree size.
 */
export function appendLeaves(sql: TreeStatements, firstIndex: number, leafHashes: readonly Buffer[]): void {
  const border = readTreeNodes(sql, rightBorder(firstIndex));
  for (const { level, index, hash } of nodesForAppend(firstIndex, border, leafHashes)) {
    sql.insert.run(level, index, hash);
  }
}

/**
 * Builds the tree of records stored without one (a store written before schema 3), streaming in seq order
 * in transactions of `perTransaction` leaves. Resumable: each transaction continues from the stored tree
 * size, so a crash loses at most the transaction in flight. A gap in seq stops it (fail closed).
 */
export function backfillTree(
  db: Db,
  sql: TreeStatements,
  canonicalTextSql: string,
  perTransaction = BACKFILL_LEAVES_PER_TRANSACTION,
): TreeBackfill {
  const started = performance.now();
  const recordCount = db.prepare('SELECT coalesce(max(seq), 0) FROM audit_log').pluck();
  const chunk = db
    .prepare(`SELECT seq, ${canonicalTextSql} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`)
    .raw();
  let added = 0;
  const step = db.transaction((): boolean => {
    const size = storedTreeSize(sql);
    if (size >= (recordCount.get() as number)) return false;
    const leaves: Buffer[] = [];
    for (const [seq, text] of chunk.iterate(size, perTransaction) as IterableIterator<[number, string]>) {
      if (seq !== size + leaves.length + 1) {
        throw treeUnavailable(`audit record ${size + leaves.length + 1} is missing (the next is ${seq})`);
      }
      leaves.push(auditLeafHash(text));
    }
    appendLeaves(sql, size, leaves);
    added += leaves.length;
    return true;
  });
  while (step.immediate()) {
    // one bounded transaction per turn
  }
  return { leaves: added, ms: Math.round(performance.now() - started) };
}
