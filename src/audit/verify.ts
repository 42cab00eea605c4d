/**
 * Offline verification of the whole hash chain (docs/audit.md "Verifying"). Streams over the records in
 * seq order and stops at the first one that does not verify.
 */
import type { AuditVerification } from '../service/contracts.js';
import type { AuditChainLink, AuditTail } from '../store/index.js';
import { GENESIS_HASH, sha256Hex } from './canonical.js';

export interface AuditVerificationReport extends AuditVerification {
  /** The last verified record: keep it elsewhere as an anchor that also detects a cut-off tail. */
  readonly last?: AuditTail;
}

/**
 * Checks, for each record: it is the next seq (a gap means records were removed), its stored hash equals
 * the hash of its contents (a field was changed), and its prevHash equals the previous record's hash
 * (records were removed, replaced or reordered). `records` counts the records that verified.
 * With an `anchor` (a seq and hash recorded earlier), the log must still contain that exact record.
 */
export function verifyAuditChain(
  links: Iterable<AuditChainLink>,
  anchor?: AuditTail,
): AuditVerificationReport {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let anchorSeen = false;
  const summary = (): Pick<AuditVerificationReport, 'records' | 'last'> => ({
    records: expectedSeq - 1,
    ...(expectedSeq > 1 ? { last: { seq: expectedSeq - 1, hash: prevHash } } : {}),
  });
  const broken = (seq: number, reason: string): AuditVerificationReport => ({
    ok: false,
    ...summary(),
    firstBroken: { seq, reason },
  });

  for (const [hash, seq, storedPrevHash, canonicalText] of links) {
    if (seq !== expectedSeq) {
      return seq > expectedSeq
        ? broken(expectedSeq, `record ${expectedSeq} is missing (the next record is ${seq})`)
        : broken(expectedSeq, `record ${seq} appears again or out of order where ${expectedSeq} belongs`);
    }
    if (sha256Hex(canonicalText) !== hash) {
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
    prevHash = hash;
    expectedSeq += 1;
  }
  if (anchor !== undefined && !anchorSeen) {
    return broken(
      expectedSeq,
      `the log ends at record ${expectedSeq - 1}, before the anchor record ${anchor.seq}`,
    );
  }
  return { ok: true, ...summary() };
}
