/**
 * What an audit append writes into the Merkle tree (docs/audit.md, "Merkle tree"), computed in memory so the
 * PostgreSQL backend needs one query to read the nodes it builds on and one statement to write everything:
 * the leaf of each new entry (SHA-256(0x00 ‖ UTF-8 canonical text)) and every complete subtree it closes
 * (src/transparency/proof-plan.ts nodesCompletedBy), exactly the nodes the SQLite backend stores.
 */
import { DkeError } from '../../errors/index.js';
import { auditLeafHash, canonicalAuditText } from '../../audit/canonical.js';
import { hashChildren } from '../../transparency/merkle.js';
import { nodesCompletedBy, type NodeId } from '../../transparency/proof-plan.js';
import type { AuditRow } from '../types.js';

export interface TreeNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Buffer;
}

const key = (level: number, index: number): string => `${level}/${index}`;

/**
 * The right border of a tree of `size` entries: its maximal complete subtrees, one per set bit of `size`
 * (node (l, floor(size / 2^l) - 1) for each bit l). An append combines new nodes only with these and with
 * nodes it writes itself, so they are all it needs to read.
 */
export function borderOf(size: number): NodeId[] {
  const out: NodeId[] = [];
  for (let level = 0, span = 1; span <= size; level++, span *= 2) {
    const above = Math.floor(size / span);
    if (above % 2 === 1) out.push({ level, index: above - 1 });
  }
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

/** Every node the leaves complete, given the stored border of the tree (borderOf(treeSize)). */
export function nodesToStore(treeSize: number, leaves: readonly Buffer[], border: readonly TreeNode[]): TreeNode[] {
  const known = new Map<string, Buffer>(border.map((n) => [key(n.level, n.index), n.hash]));
  const out: TreeNode[] = [];
  leaves.forEach((leaf, k) => {
    let below = leaf;
    for (const { level, index } of nodesCompletedBy(treeSize + k)) {
      let hash = leaf;
      if (level > 0) {
        const left = known.get(key(level - 1, 2 * index));
        if (left === undefined) {
          throw new DkeError('ERR_AUDIT_UNAVAILABLE', {
            detail: `audit tree node (${level - 1}, ${2 * index}) is missing`,
          });
        }
        hash = hashChildren(left, below);
      }
      known.set(key(level, index), hash);
      out.push({ level, index, hash });
      below = hash;
    }
  });
  return out;
}
