/**
 * A streaming RFC 6962 tree-head accumulator (docs/audit.md, "Merkle tree"): append leaf hashes one by one
 * and read the root of everything appended so far at any point. It keeps the compact range [0, size): one
 * hash per set bit of `size`, the complete subtrees left to right, so memory is O(log n) and each append
 * costs amortized one hashChildren. Pure: no store, no network.
 */
import crypto from 'node:crypto';
import { emptyRoot, hashChildren, HASH_SIZE } from './merkle.js';

/** 0x01 || left || right, reused: verify() combines about one pair per record. */
const pair = Buffer.alloc(1 + 2 * HASH_SIZE);
pair[0] = 0x01;

/** hashChildren, without a Hash object per call (same bytes; merkle.ts's is the reference). */
const combine: (left: Buffer, right: Buffer) => Buffer =
  typeof crypto.hash === 'function'
    ? (left, right) => {
        left.copy(pair, 1);
        right.copy(pair, 1 + HASH_SIZE);
        return Buffer.from(crypto.hash('sha256', pair, 'binary'), 'latin1');
      }
    : hashChildren;

export class CompactRange {
  /** Complete subtrees covering [0, size), left to right, strictly decreasing widths. */
  private readonly hashes: Buffer[] = [];
  private readonly widths: number[] = [];
  private count = 0;

  /** Number of leaves appended. */
  get size(): number {
    return this.count;
  }

  /** Appends one entry's leaf hash (hashLeaf of its bytes). */
  append(leafHash: Uint8Array): void {
    if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE) {
      throw new TypeError(`a leaf hash is ${HASH_SIZE} bytes`);
    }
    let hash: Buffer = Buffer.from(leafHash);
    let width = 1;
    // Like a binary counter's carry: two equal-width neighbours become their parent.
    while (this.widths.length > 0 && this.widths[this.widths.length - 1] === width) {
      this.widths.pop();
      hash = combine(this.hashes.pop() as Buffer, hash);
      width *= 2;
    }
    this.hashes.push(hash);
    this.widths.push(width);
    this.count += 1;
  }

  /** RFC 6962 MTH of the leaves appended so far (emptyRoot() for none). */
  root(): Buffer {
    if (this.hashes.length === 0) return emptyRoot();
    let hash = this.hashes[this.hashes.length - 1] as Buffer;
    for (let k = this.hashes.length - 2; k >= 0; k--) hash = combine(this.hashes[k] as Buffer, hash);
    return hash;
  }
}
