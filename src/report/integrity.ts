/**
 * The integrity statement that heads a report: the full verification of the log (hash chain and Merkle
 * tree: size, chain head, RFC 6962 root). Extension point for signed checkpoints: fill `checkpoint` and
 * `cosignatures` here (the renderers already show them).
 */
import type { AuditVerificationReport } from '../audit/index.js';
import type { IntegrityStatement } from './types.js';

export const NO_CHECKPOINT_TEXT = 'no signed checkpoint available';

/** Anything that verifies the whole log, such as StoreAuditLog. */
export interface VerifiableLog {
  verify(): AuditVerificationReport;
}

export function integrityStatement(log: VerifiableLog): IntegrityStatement {
  const report = log.verify();
  const head = {
    ...(report.last === undefined ? {} : { chainHead: report.last.hash }),
    ...(report.ok ? { rootHash: report.rootHash } : {}),
  };
  if (report.ok) return { verified: true, size: report.records, ...head, problems: [] };
  const broken = report.firstBroken ?? { seq: report.records + 1, reason: 'unknown' };
  return {
    verified: false,
    size: report.records,
    ...head,
    firstBroken: { seq: broken.seq, reason: broken.reason },
    problems: [`record ${broken.seq}: ${broken.reason}`],
  };
}
