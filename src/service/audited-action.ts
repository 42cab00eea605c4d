/**
 * Audit around an administrative action (admin API and `dke key` CLI alike): `allowed` is recorded BEFORE
 * the action runs, so nothing changes unless that record is durable; `ok` (with what the action produced)
 * or `failed` (with the error code) after. An audit failure is ERR_AUDIT_UNAVAILABLE.
 */
import { DkeError, isDkeError } from '../errors/index.js';
import type { AuditEvent, AuditLog, AuditRecord, KeyInfo } from './contracts.js';

export type AuditTarget = Pick<AuditEvent, 'keyName' | 'objectId' | 'keyVersion' | 'keyId'>;

/** What a key-changing action leaves behind: the key and its (new) active version. */
export function keyTarget(key: KeyInfo): AuditTarget {
  const active = key.versions.find((v) => v.version === key.activeVersion);
  return { keyName: key.name, keyVersion: key.activeVersion, ...(active ? { keyId: active.keyId } : {}) };
}

/** The committed record; ERR_AUDIT_UNAVAILABLE when it could not be written. */
export async function appendOrFail(audit: AuditLog, event: AuditEvent): Promise<AuditRecord> {
  try {
    return await audit.append(event);
  } catch (cause) {
    throw new DkeError('ERR_AUDIT_UNAVAILABLE', {
      detail: `audit append failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      cause,
    });
  }
}

export async function runAudited<T>(
  audit: AuditLog,
  event: Omit<AuditEvent, 'result'>,
  run: () => T | Promise<T>,
  after?: (result: T) => AuditTarget,
): Promise<T> {
  await appendOrFail(audit, { ...event, result: 'allowed' });
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await appendOrFail(audit, {
      ...event,
      result: 'failed',
      reason: isDkeError(error) ? error.code : 'ERR_INTERNAL',
    });
    throw error;
  }
  await appendOrFail(audit, { ...event, result: 'ok', ...(after ? after(result) : {}) });
  return result;
}
