/** Reads the audit log of a harness's store the way `dke audit` does (a second, read-only connection). */
import { openAuditStore, type AuditStore } from '../../src/keystore/index.js';
import type { AuditQuery, AuditRecord, AuditVerification } from '../../src/service/contracts.js';
import type { Harness } from './harness.js';

async function withAuditStore<T>(h: Harness, read: (store: AuditStore) => Promise<T>): Promise<T> {
  const store = await openAuditStore({ dbPath: h.config.store.database });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

export function auditRecords(h: Harness, query: AuditQuery = {}): Promise<AuditRecord[]> {
  return withAuditStore(h, (store) => store.audit.query({ limit: 10_000, ...query }));
}

export function verifyAudit(h: Harness): Promise<AuditVerification> {
  return withAuditStore(h, (store) => store.audit.verify());
}

export async function auditCount(h: Harness): Promise<number> {
  return (await auditRecords(h)).length;
}
