/**
 * What an audit append does to the RFC 6962 Merkle tree (docs/audit.md, "Merkle tree"), for any backend: a
 * backend keeps the hash of every complete subtree, node (level, index) covering entries
 * [index·2^level, (index+1)·2^level). Appending entries after a tree of `size` closes the nodes
 * src/transparency/proof-plan.ts `nodesCompletedBy` names; every left sibling they need is either on the
 * tree's right border (the complete subtrees making up [0, size), which `rightBorder` names) or written by
 * the same append. So a backend reads the border, calls `nodesForAppend` and inserts what it returns, in
 * the transaction that stores the records.
 */
import { DkeError } from '../errors/index.js';
import { auditLeafHash, canonicalAuditText } from '../audit/canonical.js';
import { hashChildren } from '../transparency/merkle.js';
import { nodesCompletedBy, rootPlan, type NodeId } from '../transparency/proof-plan.js';
import type { AuditRow } from './types.js';

export interface TreeNode extends NodeId {
  readonly hash: Buffer;
}

export function treeUnavailable(detail: string): DkeError {
  return new DkeError('ERR_AUDIT_UNAVAILABLE', { detail });
}

/** The complete subtrees that make up [0, size), left to right (none for the empty tree). */
export function rightBorder(size: number): readonly NodeId[] {
  return size === 0 ? [] : rootPlan(size).nodes;
}

const nodeKey = (level: number, index: number): string => `${level}/${index}`;

/**
 * The leaves of entries firstIndex, firstIndex+1, ... and every node they complete, in the order they are
 * completed. `border` holds the hashes of rightBorder(firstIndex), in that order; `firstIndex` must be
 * the stored tree size.
 */
export function nodesForAppend(
  firstIndex: number,
  border: readonly Buffer[],
  leafHashes: readonly Buffer[],
): TreeNode[] {
  const borderIds = rightBorder(firstIndex);
  if (border.length !== borderIds.length) {
    throw new DkeError('ERR_INTERNAL', { detail: 'an audit tree append needs the whole right border' });
  }
  const known = new Map<string, Buffer>();
  borderIds.forEach(({ level, index }, k) => known.set(nodeKey(level, index), border[k] as Buffer));
  const sibling = (level: number, index: number): Buffer => {
    const hash = known.get(nodeKey(level, index));
    if (hash === undefined) throw treeUnavailable(`audit tree node (${level}, ${index}) is missing`);
    return hash;
  };
  const out: TreeNode[] = [];
  leafHashes.forEach((leaf, k) => {
    let below = leaf;
    for (const { level, index } of nodesCompletedBy(firstIndex + k)) {
      const hash = level === 0 ? leaf : hashChildren(sibling(level - 1, 2 * index), below);
      known.set(nodeKey(level, index), hash);
      out.push({ level, index, hash });
      below = hash;
    }
  });
  return out;
}

/** Leaves of rows about to be stored after a tree of `treeSize`; they must be its next entries. */
export function leavesOfRows(treeSize: number, rows: readonly AuditRow[]): Buffer[] {
  return rows.map((row, k) => {
    if (row.seq !== treeSize + k + 1) {
      throw new DkeError('ERR_INTERNAL', {
        detail: `audit row seq ${row.seq} does not continue the tree of size ${treeSize + k}`,
      });
    }
    return auditLeafHash(canonicalAuditText(row));
  });
}

/** Refuses to append when tree and log disagree (an interrupted upgrade, or a damaged store). */
export function checkTreeMatchesLog(treeSize: number, recordCount: number): void {
  if (treeSize !== recordCount) {
    throw treeUnavailable(
      `the audit tree covers ${treeSize} records but the log has ${recordCount}; reopen the store for writing to complete the tree`,
    );
  }
}
