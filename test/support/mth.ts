/**
 * RFC 6962 §2.1 MTH written straight from the definition (recursive, all leaves in memory), independent of
 * the incremental tree and the compact range it checks.
 */
import crypto from 'node:crypto';
import { canonicalAuditText, type HashedFields } from '../../src/audit/index.js';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export function referenceLeaf(entry: Uint8Array): Buffer {
  return sha256(Buffer.from([0]), entry);
}

/** MTH over entries' leaf hashes. */
export function referenceRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0] as Buffer;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.from([1]), referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

/** The leaf of an audit record: its canonical text as UTF-8 (docs/audit.md "Merkle tree"). */
export function recordLeaf(record: HashedFields): Buffer {
  return referenceLeaf(Buffer.from(canonicalAuditText(record), 'utf8'));
}
