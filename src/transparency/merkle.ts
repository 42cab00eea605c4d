/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and proof verification (docs/audit.md, "Merkle tree"). Pure: no
 * store, no network. Verification treats every index, size and proof length as attacker-controlled: sizes
 * are checked to be whole numbers below 2^63, arithmetic is done on bigint, and the RFC 9162 algorithms
 * refuse a proof that is one hash too long or too short (the walk must end exactly at the root).
 */
import crypto from 'node:crypto';
import { DkeError } from '../errors/index.js';

export const HASH_SIZE = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);
/** The largest tree size accepted: C2SP checkpoints carry sizes as uint64; 2^63 keeps every shift exact. */
const MAX_SIZE = 2n ** 63n;

/** MTH of one entry: SHA-256(0x00 || entry). */
export function hashLeaf(entry: Uint8Array): Buffer {
  return crypto.createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

/** An interior node: SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return crypto.createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The root of the empty tree: SHA-256 of nothing. */
export function emptyRoot(): Buffer {
  return crypto.createHash('sha256').digest();
}

function invalid(message: string, detail?: string): DkeError {
  return new DkeError('ERR_PROOF_INVALID', { message, ...(detail === undefined ? {} : { detail }) });
}

/** A size or index from outside: a non-negative whole number below 2^63, as bigint. */
function wholeNumber(value: number | bigint, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= MAX_SIZE) throw invalid(`${what} out of range`);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) throw invalid(`${what} out of range`);
  return BigInt(value);
}

function checkHash(hash: unknown, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw invalid(`${what} is not a ${HASH_SIZE}-byte hash`);
  }
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** No valid proof in a tree below 2^63 has more hashes (RFC 9162: at most one per level, plus the seed). */
const MAX_PROOF_HASHES = 64;

function checkProof(proof: readonly Uint8Array[]): void {
  const list: unknown = proof;
  if (!Array.isArray(list)) throw invalid('proof is not a list of hashes');
  if (list.length > MAX_PROOF_HASHES) throw invalid('proof is too long', `${list.length} hashes`);
  proof.forEach((hash, k) => checkHash(hash, `proof hash ${k}`));
}

/**
 * The root an inclusion proof implies for `leafHash` at `index` in a tree of `size`. Throws ERR_PROOF_INVALID
 * for an index outside the tree or a proof of the wrong length.
 */
export function rootFromInclusionProof(
  index: number | bigint,
  size: number | bigint,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  const i = wholeNumber(index, 'index');
  const n = wholeNumber(size, 'tree size');
  checkHash(leafHash, 'leaf hash');
  if (i >= n) throw invalid('index is not in the tree', `index ${i} >= size ${n}`);
  checkProof(proof);
  // RFC 9162 §2.1.3.2.
  let fn = i;
  let sn = n - 1n;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0n) throw invalid('inclusion proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw invalid('inclusion proof is too short');
  return r;
}

/** Verifies that `leafHash` is entry `index` of the tree of `size` with `root`. Throws ERR_PROOF_INVALID. */
export function verifyInclusion(
  index: number | bigint,
  size: number | bigint,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkHash(root, 'root');
  const computed = rootFromInclusionProof(index, size, leafHash, proof);
  if (!sameHash(computed, root)) throw invalid('inclusion proof does not lead to the root');
}

/**
 * Verifies that the tree of `size2` with `root2` extends the tree of `size1` with `root1` (RFC 9162
 * §2.1.4.2). Equal sizes need an empty proof and equal roots; size1 = 0 is refused (it proves nothing;
 * a witness treats "no previous size" itself). Throws ERR_PROOF_INVALID.
 */
export function verifyConsistency(
  size1: number | bigint,
  size2: number | bigint,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  const m = wholeNumber(size1, 'old size');
  const n = wholeNumber(size2, 'new size');
  checkProof(proof);
  if (m > n) throw invalid('the new tree is smaller than the old one', `${m} > ${n}`);
  // Every tree extends the empty one; a "proof" of that proves nothing, so it is refused as a mistake.
  if (m === 0n) throw invalid('a consistency proof from the empty tree is meaningless');
  if (m === n) {
    if (proof.length !== 0) throw invalid('consistency proof between equal sizes must be empty');
    if (!sameHash(root1, root2)) throw invalid('trees of equal size have different roots');
    return;
  }
  checkHash(root1, 'old root');
  checkHash(root2, 'new root');
  if (proof.length === 0) throw invalid('consistency proof is empty');
  const path: Uint8Array[] = (m & (m - 1n)) === 0n ? [root1, ...proof] : [...proof];
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  for (const c of path.slice(1)) {
    if (sn === 0n) throw invalid('consistency proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw invalid('consistency proof is too short');
  if (!sameHash(fr, root1)) throw invalid('consistency proof does not lead to the old root');
  if (!sameHash(sr, root2)) throw invalid('consistency proof does not lead to the new root');
}
