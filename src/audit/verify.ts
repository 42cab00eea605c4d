/**
 * Offline verification of the whole log (docs/audit.md "Verifying"). Streams over the records in seq order,
 * checks the hash chain and computes the RFC 6962 Merkle root of the records as it goes (O(log n) memory),
 * and stops at the first record that does not verify.
 */
import type { AuditVerification } from '../service/contracts.js';
import type { AuditChainLink, AuditTail } from '../store/index.js';
import { CompactRange } from '../transparency/compact-range.js';
import { chainAndLeafHash, GENESIS_HASH } from './canonical.js';

/** A tree head recorded earlier (a checkpoint, the store's own tree): the first `size` records' root. */
export interface AuditTreeHead {
  readonly size: number;
  readonly rootHash: Buffer;
}

export interface AuditVerificationReport extends AuditVerification {
  /** The last verified record: keep it elsewhere as an anchor that also detects a cut-off tail. */
  readonly last?: AuditTail;
  /** Hex RFC 6962 root of the `records` records that verified: compare it with a checkpoint's root. */
  readonly rootHash: string;
}

/**
 * Checks, for each record: it is the next seq (a gap means records were removed), its stored hash equals
 * the hash of its contents (a field was changed), and its prevHash equals the previous record's hash
 * (records were removed, replaced or reordered). `records` counts the records that verified.
 * With an `anchor` (a seq and hash recorded earlier), the log must still contain that exact record.
 * Each of `treeHeads` must be the Merkle root of the first `size` records: this catches a log rewritten
 * with every hash recomputed, which the chain alone cannot.
 */
export async function verifyAuditChain(
  links: AsyncIterable<AuditChainLink> | Iterable<AuditChainLink>,
  anchor?: AuditTail,
  treeHeads: readonly AuditTreeHead[] = [],
): Promise<AuditVerificationReport> {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let anchorSeen = false;
  const tree = new CompactRange();
  const heads = [...treeHeads].sort((a, b) => a.size - b.size);
  let nextHead = 0;
  const summary = (): Pick<AuditVerificationReport, 'records' | 'last' | 'rootHash'> => ({
    records: expectedSeq - 1,
    ...(expectedSeq > 1 ? { last: { seq: expectedSeq - 1, hash: prevHash } } : {}),
    rootHash: tree.root().toString('hex'),
  });
  const broken = (seq: number, reason: string): AuditVerificationReport => ({
    ok: false,
    ...summary(),
    firstBroken: { seq, reason },
  });
  /** Compares the heads of the current size; undefined when they all match. */
  const checkHeads = (): AuditVerificationReport | undefined => {
    while (nextHead < heads.length && (heads[nextHead] as AuditTreeHead).size === tree.size) {
      const head = heads[nextHead] as AuditTreeHead;
      nextHead += 1;
      if (!tree.root().equals(head.rootHash)) {
        return broken(
          Math.max(1, tree.size),
          `the Merkle root of records 1-${tree.size} differs from the recorded tree head of that size (the log was rewritten)`,
        );
      }
    }
    return undefined;
  };

  const atStart = checkHeads();
  if (atStart !== undefined) return atStart;
  for await (const [hash, seq, storedPrevHash, canonicalText] of links) {
    if (seq !== expectedSeq) {
      return seq > expectedSeq
        ? broken(expectedSeq, `record ${expectedSeq} is missing (the next record is ${seq})`)
        : broken(expectedSeq, `record ${seq} appears again or out of order where ${expectedSeq} belongs`);
    }
    const [chainHash, leafHash] = chainAndLeafHash(canonicalText);
    if (chainHash !== hash) {
      return broken(seq, 'the record does not match its hash (a field was changed)');
    }
    if (storedPrevHash !== prevHash) {
      return broken(
        seq,
        `prevHash is not the hash of record ${seq - 1} (records removed, replaced or reordered)`,
      );
    }
    if (anchor !== undefined && seq === anchor.seq) {
      if (hash !== anchor.hash) return broken(seq, 'the record does not match the anchor hash');
      anchorSeen = true;
    }
    tree.append(leafHash);
    prevHash = hash;
    expectedSeq += 1;
    if (nextHead < heads.length) {
      const mismatch = checkHeads();
      if (mismatch !== undefined) return mismatch;
    }
  }
  if (anchor !== undefined && !anchorSeen) {
    return broken(
      expectedSeq,
      `the log ends at record ${expectedSeq - 1}, before the anchor record ${anchor.seq}`,
    );
  }
  const unreached = heads[nextHead];
  if (unreached !== undefined) {
    return broken(
      expectedSeq,
      `the log ends at record ${expectedSeq - 1}, before the recorded tree head of size ${unreached.size}`,
    );
  }
  return { ok: true, ...summary() };
}
