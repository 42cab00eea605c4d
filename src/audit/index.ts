/** The tamper-evident audit log (docs/audit.md). */
export {
  StoreAuditLog,
  DEFAULT_QUERY_LIMIT,
  MAX_AUDIT_FIELD_CHARS,
  MAX_QUERY_LIMIT,
  entryIndexOf,
  type AuditCommit,
  type AuditCommitListener,
  type AuditLogOptions,
} from './audit-log.js';
export {
  auditLeafHash,
  auditRecordHash,
  chainAndLeafHash,
  canonicalAuditText,
  AUDIT_HASH_DOMAIN,
  GENESIS_HASH,
  sha256Hex,
  type HashedFields,
} from './canonical.js';
export { verifyAuditChain, type AuditTreeHead, type AuditVerificationReport } from './verify.js';
export { cosignedNote, formatReceipt, recordCanonicalText, type ProvingLog } from './receipts.js';
export { Checkpointer, type CheckpointerOptions, type SignedCheckpoint } from './checkpointer.js';
