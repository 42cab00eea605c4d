/**
 * `dke store copy` (docs/storage.md, "Copying a store"): copies everything one store holds into another,
 * empty one, over the storage contract only, so any backend to any backend (SQLite to PostgreSQL is the
 * usual move). Keys are copied exactly: records, policies, every version with its sealed material verbatim
 * (still bound to its key name, version and key id, so the same master key opens it; destroyed versions
 * with none), revoked objects. Then the audit log, streamed (copy-audit.ts), the signed checkpoints with
 * their witness cosignatures, the witnessed logs and the security events. Nothing counts as copied until
 * copy-verify.ts has read it all back equal and verified the copy's audit log from scratch.
 *
 * The target must be empty: a copy never merges into a used store (two audit logs cannot be joined, and key
 * names or key ids could collide). A copy that fails half-way leaves a target that must not be used.
 */
import { DkeError, isDkeError } from '../errors/index.js';
import { AUDIT_COPY_BATCH_ROWS, copyAuditLog } from './copy-audit.js';
import { readSecurityEvents, SECURITY_EVENTS_COPY_LIMIT } from './copy-listings.js';
import { verifyStoreCopy, type StoreCopyReport } from './copy-verify.js';
import type { DkeStore, SecurityEventRetention } from './types.js';

export type { StoreCopyReport } from './copy-verify.js';
export { AUDIT_COPY_BATCH_ROWS } from './copy-audit.js';
export { SECURITY_EVENTS_COPY_LIMIT } from './copy-listings.js';

export interface StoreCopyProgress {
  /** `copy`: audit records appended to the target; `verify`: records of the copy verified. */
  readonly phase: 'copy' | 'verify';
  readonly records: number;
  /** Records in the source when the copy started. */
  readonly total: number;
}

export interface StoreCopyOptions {
  /** Audit records per append transaction; default AUDIT_COPY_BATCH_ROWS. */
  readonly auditBatchRows?: number;
  readonly onProgress?: (progress: StoreCopyProgress) => void;
}

/** Security events per write to the target. */
const SECURITY_EVENT_BATCH = 1000;
/** Retention for the copied security events: prune nothing (the source's retention already applied). */
const KEEP_ALL: SecurityEventRetention = {
  maxRows: SECURITY_EVENTS_COPY_LIMIT,
  notBefore: '0000-01-01T00:00:00.000Z',
};

const UNUSABLE_HINT =
  'the target is incomplete or differs from the source: do not use it. Drop it (PostgreSQL: DROP DATABASE, ' +
  'then CREATE DATABASE; SQLite: delete the file), fix the cause and copy again';

/** Refuses a target that holds anything at all. */
async function assertEmpty(target: DkeStore): Promise<void> {
  const [meta, keys, tail, treeSize, checkpoints, witnessed, events] = await Promise.all([
    target.listMeta(),
    target.listKeys(),
    target.auditTail(),
    target.auditTreeSize(),
    target.listCheckpoints(),
    target.listWitnessedLogs(),
    target.querySecurityEvents({ limit: 1 }),
  ]);
  const records = Math.max(tail?.seq ?? 0, treeSize);
  const count = (n: number, one: string, many = `${one}s`): string =>
    n === 0 ? '' : `${n} ${n === 1 ? one : many}`;
  const found = [
    count(meta.length, 'metadata entry', 'metadata entries'),
    count(keys.length, 'key'),
    count(records, 'audit record'),
    count(checkpoints.length, 'checkpoint'),
    count(witnessed.length, 'witnessed log'),
    events.length > 0 ? 'security events' : '',
  ].filter((what) => what !== '');
  if (found.length > 0) {
    throw new DkeError('ERR_STORE_NOT_EMPTY', {
      message: `the target key store is not empty (it holds ${found.join(', ')}); dke store copy never merges into a used store`,
      hint: 'copy into a new, empty store: a new PostgreSQL database (CREATE DATABASE), or a SQLite file that does not exist yet',
    });
  }
}

/** The source's stored tree must cover its records: the copy compares its root with the target's. */
async function assertSourceTreeComplete(source: DkeStore, records: number): Promise<void> {
  const treeSize = await source.auditTreeSize();
  if (treeSize !== records) {
    throw new DkeError('ERR_AUDIT_UNAVAILABLE', {
      message: `the source's audit tree covers ${treeSize} of its ${records} records`,
      hint: 'open the source once for writing (start dke serve on it, or run dke key list) to complete its tree, then copy',
    });
  }
}

async function copyMeta(source: DkeStore, target: DkeStore): Promise<void> {
  for (const [name, value] of await source.listMeta()) {
    if ((await target.setMetaIfAbsent(name, value)) !== value) {
      throw new DkeError('ERR_STORE_COPY_MISMATCH', {
        message: `the target holds another value for '${name}' already`,
      });
    }
  }
}

async function copyKeys(source: DkeStore, target: DkeStore): Promise<void> {
  for (const key of await source.listKeys()) {
    const [versions, revoked] = await Promise.all([
      source.listKeyVersions(key.name),
      source.listRevokedObjects(key.name),
    ]);
    await target.importKey(key, versions, revoked);
  }
}

async function copyCheckpoints(source: DkeStore, target: DkeStore): Promise<void> {
  for (const checkpoint of await source.listCheckpoints()) {
    await target.storeCheckpoint(checkpoint);
    for (const cosignature of await source.listCosignatures(checkpoint.size)) {
      await target.storeCosignature(cosignature);
    }
  }
}

async function copyWitnessedLogs(source: DkeStore, target: DkeStore): Promise<void> {
  for (const log of await source.listWitnessedLogs()) {
    if (!(await target.compareAndSetWitnessedLog(log.origin, 0n, log.size, log.root, log.updatedAt))) {
      throw new DkeError('ERR_STORE_COPY_MISMATCH', {
        message: `the target holds a witnessed log for '${log.origin}' already: another process writes to it`,
      });
    }
  }
}

async function copySecurityEvents(source: DkeStore, target: DkeStore): Promise<void> {
  const rows = await readSecurityEvents(source);
  for (let at = 0; at < rows.length; at += SECURITY_EVENT_BATCH) {
    await target.recordSecurityEvents(rows.slice(at, at + SECURITY_EVENT_BATCH), KEEP_ALL);
  }
}

/** Keeps the failure's code (exit status) and says that the target must not be used. */
function unusable(error: unknown): DkeError {
  if (!isDkeError(error)) return new DkeError('ERR_INTERNAL', { hint: UNUSABLE_HINT, cause: error });
  return new DkeError(error.code, {
    message: error.message,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    hint: error.hint === undefined ? UNUSABLE_HINT : `${error.hint}. Then: ${UNUSABLE_HINT}`,
    cause: error,
  });
}

/**
 * Copies `source` into the empty `target` and verifies the copy. Rejects ERR_STORE_NOT_EMPTY (nothing
 * written) or, after writing started, with the failure and a hint that the target must not be used.
 */
export async function copyStore(
  source: DkeStore,
  target: DkeStore,
  options: StoreCopyOptions = {},
): Promise<StoreCopyReport> {
  await assertEmpty(target);
  const total = (await source.auditTail())?.seq ?? 0;
  await assertSourceTreeComplete(source, total);
  const progress = (phase: StoreCopyProgress['phase']) => (records: number) =>
    options.onProgress?.({ phase, records, total });
  try {
    await copyMeta(source, target);
    await copyKeys(source, target);
    const audit = await copyAuditLog(source, target, {
      batchRows: options.auditBatchRows ?? AUDIT_COPY_BATCH_ROWS,
      onBatch: progress('copy'),
    });
    await copyCheckpoints(source, target);
    await copyWitnessedLogs(source, target);
    await copySecurityEvents(source, target);
    const report = await verifyStoreCopy(source, target, { onAuditProgress: progress('verify') });
    if (report.rootHash !== audit.rootHash.toString('hex')) {
      throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
        message: "the copy's Merkle root differs from the root of the records read from the source",
      });
    }
    return report;
  } catch (error) {
    throw unusable(error);
  }
}
