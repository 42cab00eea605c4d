/**
 * Which stored tree nodes a root or proof needs, and how to combine them (the log side of docs/audit.md,
 * "Merkle tree"). A log keeps every complete subtree's hash: node (level, index) covers entries
 * [index·2^level, (index+1)·2^level). Every hash in an RFC 6962 proof is the hash of a left-aligned range of
 * entries, which is a fold of at most log2(size) such nodes; so a root or a proof costs O(log n) reads.
 *
 * A plan lists the nodes to read; the caller reads them (synchronously or in one batched query) and hands
 * their hashes, in the same order, to `assemble`. Sizes here come from the log itself, not from outside.
 */
import { hashChildren } from './merkle.js';

export interface NodeId {
  /** Height above the entries: 0 is an entry's leaf hash. */
  readonly level: number;
  readonly index: number;
}

export interface ProofPlan {
  /** The nodes to read, in order (may repeat none; may be empty). */
  readonly nodes: readonly NodeId[];
  /** The proof hashes (or [root] for a root plan) from the nodes' hashes, given in `nodes` order. */
  assemble(hashes: readonly Uint8Array[]): Buffer[];
}

/** A range [begin, end) of entries whose hash is one proof element. */
interface Range {
  readonly begin: number;
  readonly end: number;
}

function checkSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a whole number`);
}

/** The largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The complete subtrees that make up [begin, end), left to right, largest first. In a proof every range
 * starts at a multiple of a power of two at least its length, so each piece is aligned.
 */
function piecesOf(range: Range): NodeId[] {
  const out: NodeId[] = [];
  let at = range.begin;
  while (at < range.end) {
    let width = 1;
    let level = 0;
    while (width * 2 <= range.end - at && at % (width * 2) === 0) {
      width *= 2;
      level++;
    }
    out.push({ level, index: at / width });
    at += width;
  }
  return out;
}

/** RFC 6962 MTH of a range from its pieces: fold right to left. */
function foldPieces(hashes: readonly Uint8Array[]): Buffer {
  let hash: Buffer = Buffer.from(hashes[hashes.length - 1] as Uint8Array);
  for (let k = hashes.length - 2; k >= 0; k--) hash = hashChildren(hashes[k] as Uint8Array, hash);
  return hash;
}

function planOf(ranges: readonly Range[]): ProofPlan {
  const pieces = ranges.map(piecesOf);
  return {
    nodes: pieces.flat(),
    assemble(hashes) {
      if (hashes.length !== pieces.reduce((sum, p) => sum + p.length, 0)) {
        throw new RangeError('assemble needs one hash per planned node');
      }
      let at = 0;
      return pieces.map((p) => {
        const folded = foldPieces(hashes.slice(at, at + p.length));
        at += p.length;
        return folded;
      });
    },
  };
}

/** RFC 6962 §2.1.1 PATH(m, D[begin:end]) as ranges, leaf upward. */
function inclusionRanges(m: number, begin: number, end: number, out: Range[]): void {
  const n = end - begin;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    inclusionRanges(m, begin, begin + k, out);
    out.push({ begin: begin + k, end });
  } else {
    inclusionRanges(m - k, begin + k, end, out);
    out.push({ begin, end: begin + k });
  }
}

/** RFC 6962 §2.1.2 SUBPROOF(m, D[begin:end], b) as ranges. */
function consistencyRanges(m: number, begin: number, end: number, whole: boolean, out: Range[]): void {
  const n = end - begin;
  if (m === n) {
    if (!whole) out.push({ begin, end });
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    consistencyRanges(m, begin, begin + k, whole, out);
    out.push({ begin: begin + k, end });
  } else {
    consistencyRanges(m - k, begin + k, end, false, out);
    out.push({ begin, end: begin + k });
  }
}

/** The nodes of the root of a tree of `size` (> 0); assemble returns [root]. */
export function rootPlan(size: number): ProofPlan {
  checkSize(size, 'size');
  if (size === 0) throw new RangeError('the empty tree has no nodes (its root is emptyRoot())');
  return planOf([{ begin: 0, end: size }]);
}

/** The inclusion proof of entry `index` in the tree of `size`. */
export function inclusionProofPlan(index: number, size: number): ProofPlan {
  checkSize(index, 'index');
  checkSize(size, 'size');
  if (index >= size) throw new RangeError('index is not in the tree');
  const ranges: Range[] = [];
  inclusionRanges(index, 0, size, ranges);
  return planOf(ranges);
}

/** The consistency proof from the tree of `size1` to the tree of `size2` (0 <= size1 <= size2). */
export function consistencyProofPlan(size1: number, size2: number): ProofPlan {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 > size2) throw new RangeError('size1 must not exceed size2');
  const ranges: Range[] = [];
  if (size1 > 0 && size1 < size2) consistencyRanges(size1, 0, size2, true, ranges);
  return planOf(ranges);
}

/**
 * The nodes that entry `index` (0-based) completes when it is appended: its leaf (level 0) and every
 * ancestor whose subtree it closes. Each new node's hash is hashChildren(left sibling, node below).
 */
export function nodesCompletedBy(index: number): NodeId[] {
  checkSize(index, 'index');
  const out: NodeId[] = [{ level: 0, index }];
  let level = 0;
  let at = index;
  while (at % 2 === 1) {
    at = (at - 1) / 2;
    level++;
    out.push({ level, index: at });
  }
  return out;
}
