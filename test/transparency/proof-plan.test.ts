/**
 * The log side of the Merkle tree: nodes stored as entries arrive (nodesCompletedBy), roots and proofs
 * assembled from O(log n) of them (proof plans), checked against an independent recursive RFC 6962
 * implementation and against the verifiers, for every index and size pair of small trees.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  emptyRoot,
  hashChildren,
  hashLeaf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/transparency/merkle.js';
import {
  consistencyProofPlan,
  inclusionProofPlan,
  nodesCompletedBy,
  rootPlan,
  type ProofPlan,
} from '../../src/transparency/proof-plan.js';

/** RFC 6962 §2.1 MTH, written from the RFC recursively (no stored nodes). */
function mth(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return emptyRoot();
  if (leaves.length === 1) return leaves[0] as Buffer;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return hashChildren(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** An in-memory log storing nodes exactly as a store would: each append adds the nodes it completes. */
class MemoryLog {
  readonly leaves: Buffer[] = [];
  private readonly nodes = new Map<string, Buffer>();

  append(entry: Buffer): void {
    const index = this.leaves.length;
    const leaf = hashLeaf(entry);
    this.leaves.push(leaf);
    let below = leaf;
    for (const node of nodesCompletedBy(index)) {
      if (node.level > 0) {
        const left = this.node(node.level - 1, node.index * 2);
        below = hashChildren(left, below);
      }
      this.nodes.set(`${node.level}/${node.index}`, below);
    }
  }

  node(level: number, index: number): Buffer {
    const hash = this.nodes.get(`${level}/${index}`);
    assert.ok(hash, `node ${level}/${index} was never stored`);
    return hash;
  }

  run(plan: ProofPlan): Buffer[] {
    return plan.assemble(plan.nodes.map((n) => this.node(n.level, n.index)));
  }
}

const MAX = 40;
const log = new MemoryLog();
for (let i = 0; i < MAX; i++) log.append(Buffer.from(`entry ${i}`));

test('roots from stored nodes equal the recursive MTH, with at most log2(n)+1 reads', () => {
  for (let size = 1; size <= MAX; size++) {
    const plan = rootPlan(size);
    assert.ok(plan.nodes.length <= Math.floor(Math.log2(size)) + 1);
    assert.deepEqual(log.run(plan), [mth(log.leaves.slice(0, size))]);
  }
});

test('every inclusion proof verifies, and fails for any other index or a changed leaf', () => {
  for (let size = 1; size <= MAX; size++) {
    const root = mth(log.leaves.slice(0, size));
    for (let index = 0; index < size; index++) {
      const proof = log.run(inclusionProofPlan(index, size));
      verifyInclusion(index, size, log.leaves[index] as Buffer, proof, root);
      if (size > 1) {
        const other = (index + 1) % size;
        assert.throws(() => verifyInclusion(other, size, log.leaves[index] as Buffer, proof, root));
      }
      assert.throws(() => verifyInclusion(index, size, hashLeaf(Buffer.from('forged')), proof, root));
    }
  }
});

test('every consistency proof verifies, and fails against another old root', () => {
  for (let size2 = 1; size2 <= MAX; size2++) {
    const root2 = mth(log.leaves.slice(0, size2));
    for (let size1 = 1; size1 <= size2; size1++) {
      const root1 = mth(log.leaves.slice(0, size1));
      const proof = log.run(consistencyProofPlan(size1, size2));
      verifyConsistency(size1, size2, proof, root1, root2);
      if (size1 < size2) {
        const forged = mth([...log.leaves.slice(0, size1 - 1), hashLeaf(Buffer.from('forged'))]);
        assert.throws(() => verifyConsistency(size1, size2, proof, forged, root2));
      }
    }
  }
});

test('plans refuse impossible requests', () => {
  assert.throws(() => inclusionProofPlan(3, 3), RangeError);
  assert.throws(() => consistencyProofPlan(4, 3), RangeError);
  assert.throws(() => rootPlan(0), RangeError);
  assert.throws(() => inclusionProofPlan(-1, 3), RangeError);
  assert.throws(() => rootPlan(1.5), RangeError);
});
