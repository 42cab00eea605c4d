/** Reads the audit log of a harness's store the way `dke audit` does (a second, read-only connection). */
import { openAuditStore } from '../../src/keystore/index.js';
import type { AuditQuery, AuditRecord, AuditVerification } from '../../src/service/contracts.js';
import type { Harness } from './harness.js';

export function auditRecords(h: Harness, query: AuditQuery = {}): AuditRecord[] {
  const store = openAuditStore({ dbPath: h.config.store.database });
  try {
    return store.audit.query({ limit: 10_000, ...query });
  } finally {
    store.close();
  }
}

export function verifyAudit(h: Harness): AuditVerification {
  const store = openAuditStore({ dbPath: h.config.store.database });
  try {
    return store.audit.verify();
  } finally {
    store.close();
  }
}

export function auditCount(h: Harness): number {
  return auditRecords(h).length;
}
