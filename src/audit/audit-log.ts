/**
 * The tamper-evident audit log (docs/audit.md): append-only records in the store, each hashed over its
 * contents and the previous record's hash. `append` resolves only after its record is durably committed;
 * appends made while a commit runs are group-committed together in the next transaction.
 */
import { DkeError } from '../errors/index.js';
import type { AuditEvent, AuditLog, AuditQuery, AuditRecord, AuditResult } from '../service/contracts.js';
import type { AuditRow, AuditRowQuery, AuditTail, DkeStore } from '../store/index.js';
import { auditRecordHash, GENESIS_HASH, type HashedFields } from './canonical.js';
import { verifyAuditChain, type AuditVerificationReport } from './verify.js';

const RESULTS: readonly AuditResult[] = ['allowed', 'denied', 'failed', 'ok'];
/** Longer values (they may come from clients, e.g. request ids) are cut so nobody can bloat the log. */
export const MAX_AUDIT_FIELD_CHARS = 1024;
export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 10_000;

export interface AuditLogOptions {
  readonly now?: () => Date;
  /** Most records committed in one transaction; more pending appends go in the following ones. */
  readonly maxBatch?: number;
}

type EventFields = Omit<HashedFields, 'seq' | 'prevHash'>;

interface PendingAppend {
  readonly fields: EventFields;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

export class StoreAuditLog implements AuditLog {
  private queue: PendingAppend[] = [];
  private commitScheduled = false;
  private closed = false;
  private readonly now: () => Date;
  private readonly maxBatch: number;

  constructor(
    private readonly store: DkeStore,
    options: AuditLogOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
  }

  /** Resolves with the committed record; rejects with ERR_AUDIT_UNAVAILABLE if it could not be written. */
  append(event: AuditEvent): Promise<AuditRecord> {
    // A throw inside the executor (closed log, invalid event) rejects the promise.
    return new Promise((resolve, reject) => {
      if (this.closed) throw new DkeError('ERR_AUDIT_UNAVAILABLE', { detail: 'audit log is closed' });
      this.queue.push({ fields: toEventFields(event, this.now().toISOString()), resolve, reject });
      if (!this.commitScheduled) {
        this.commitScheduled = true;
        // Let every append of the current turn of the event loop join this batch.
        setImmediate(() => this.commitPending());
      }
    });
  }

  /** Commits everything appended so far, now. */
  flush(): void {
    this.commitPending();
  }

  /** Flushes, then refuses further appends. The caller closes the store. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  query(query: AuditQuery): AuditRecord[] {
    return this.store.queryAuditRows(normalizeQuery(query)).map(toAuditRecord);
  }

  /** Verifies the whole chain, streaming. See verifyAuditChain for `anchor`. */
  verify(anchor?: AuditTail): AuditVerificationReport {
    return verifyAuditChain(this.store.iterateAuditChain(), anchor);
  }

  private commitPending(): void {
    this.commitScheduled = false;
    while (this.queue.length > 0) this.commitBatch(this.queue.splice(0, this.maxBatch));
  }

  private commitBatch(batch: readonly PendingAppend[]): void {
    let rows: readonly AuditRow[];
    try {
      rows = this.store.appendAuditRows((tail) => chain(tail, batch));
    } catch (cause) {
      const failure = new DkeError('ERR_AUDIT_UNAVAILABLE', {
        detail: cause instanceof DkeError ? (cause.detail ?? cause.message) : String(cause),
        cause,
      });
      for (const pending of batch) pending.reject(failure);
      return;
    }
    batch.forEach((pending, i) => pending.resolve(toAuditRecord(rows[i] as AuditRow)));
  }
}

/** Continues the chain from `tail` (read inside the write transaction) with one row per pending append. */
function chain(tail: AuditTail | undefined, batch: readonly PendingAppend[]): AuditRow[] {
  let seq = tail?.seq ?? 0;
  let prevHash = tail?.hash ?? GENESIS_HASH;
  return batch.map(({ fields }) => {
    seq += 1;
    const unhashed: HashedFields = { ...fields, seq, prevHash };
    const row: AuditRow = { ...unhashed, hash: auditRecordHash(unhashed) };
    prevHash = row.hash;
    return row;
  });
}

function toEventFields(event: AuditEvent, time: string): EventFields {
  if (typeof event !== 'object' || event === null) throw invalidEvent('not an object');
  if (typeof event.action !== 'string' || event.action.trim() === '') throw invalidEvent('action missing');
  if (!RESULTS.includes(event.result)) throw invalidEvent('result must be allowed, denied, failed or ok');
  const { keyVersion } = event;
  if (keyVersion !== undefined && !(Number.isSafeInteger(keyVersion) && keyVersion >= 0)) {
    throw invalidEvent('keyVersion must be a whole number');
  }
  return {
    time,
    action: text(event.action) as string,
    result: event.result,
    reason: text(event.reason),
    issuer: text(event.issuer),
    subject: text(event.subject),
    userName: text(event.userName),
    keyName: text(event.keyName),
    keyVersion: keyVersion ?? null,
    keyId: text(event.keyId),
    objectId: text(event.objectId),
    clientAddress: text(event.clientAddress),
    requestId: text(event.requestId),
  };
}

/**
 * Stored text must read back exactly as hashed: cut to the size limit, then round-trip through UTF-8 so a
 * lone surrogate becomes U+FFFD here rather than silently in the database.
 */
function text(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalidEvent('text fields must be strings');
  return Buffer.from(value.slice(0, MAX_AUDIT_FIELD_CHARS), 'utf8').toString('utf8');
}

function invalidEvent(why: string): DkeError {
  return new DkeError('ERR_INTERNAL', { detail: `invalid audit event: ${why}` });
}

function normalizeQuery(query: AuditQuery): AuditRowQuery {
  const bad = (message: string): DkeError => new DkeError('ERR_BAD_REQUEST', { message });
  const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw bad(`limit must be a whole number from 1 to ${MAX_QUERY_LIMIT}`);
  }
  let since: string | undefined;
  if (query.since !== undefined) {
    const date = new Date(query.since);
    if (Number.isNaN(date.getTime())) throw bad('since must be an ISO-8601 date or time');
    since = date.toISOString();
  }
  const filters: Record<string, string> = {};
  for (const field of ['keyName', 'objectId', 'subject', 'identity'] as const) {
    const value = query[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw bad(`${field} must be a non-empty string`);
    filters[field] = value;
  }
  return { ...filters, ...(since === undefined ? {} : { since }), limit };
}

function toAuditRecord(row: AuditRow): AuditRecord {
  const record: Record<string, string | number> = {};
  for (const [field, value] of Object.entries(row) as [string, string | number | null][]) {
    if (value !== null) record[field] = value;
  }
  return record as unknown as AuditRecord;
}
