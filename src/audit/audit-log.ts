/**
 * The tamper-evident audit log (docs/audit.md): append-only records in the store, each hashed over its
 * contents and the previous record's hash. `append` resolves only after its record is durably committed;
 * appends made while a commit runs are group-committed together in the next transaction. One commit is in
 * flight at a time, so records are committed in the order they were appended.
 *
 * While another process holds the store's write lock (the store rejects ERR_STORE_BUSY), the pending appends
 * stay queued in order and the commit is retried on a timer, so the event loop is never blocked waiting;
 * an append still uncommitted `lockWaitMs` after it was made fails with ERR_AUDIT_UNAVAILABLE. Any other
 * store failure (ERR_STORE_UNAVAILABLE: the database cannot be reached) fails the batch closed the same way.
 */
import { performance } from 'node:perf_hooks';
import { DkeError, isDkeError } from '../errors/index.js';
import type { AuditEvent, AuditLog, AuditQuery, AuditRecord, AuditResult } from '../service/contracts.js';
import type { AuditRow, AuditRowQuery, AuditTail, DkeStore } from '../store/index.js';
import { auditRecordHash, GENESIS_HASH, type HashedFields } from './canonical.js';
import { verifyAuditChain, type AuditTreeHead, type AuditVerificationReport } from './verify.js';
import { emptyRoot } from '../transparency/merkle.js';
import {
  consistencyProofPlan,
  inclusionProofPlan,
  rootPlan,
  type NodeId,
  type ProofPlan,
} from '../transparency/proof-plan.js';

const RESULTS: readonly AuditResult[] = ['allowed', 'denied', 'failed', 'ok'];
/** Longer values (they may come from clients, e.g. request ids) are cut so nobody can bloat the log. */
export const MAX_AUDIT_FIELD_CHARS = 1024;
export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 10_000;

export interface AuditLogOptions {
  readonly now?: () => Date;
  /** Most records committed in one transaction; more pending appends go in the following ones. */
  readonly maxBatch?: number;
  /**
   * How long an append may wait, retrying asynchronously, while the store is locked by another process;
   * default 0 (fail once the store's own, blocking, wait ran out).
   */
  readonly lockWaitMs?: number;
}

/** Retry delays while the store is locked: short at first (most locks are brief), then capped. */
const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 50;

type EventFields = Omit<HashedFields, 'seq' | 'prevHash'>;

interface PendingAppend {
  readonly fields: EventFields;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
  /** performance.now() after which a locked store fails this append. */
  readonly deadline: number;
}

type BatchOutcome = 'done' | 'busy';

/** What a committed batch did to the Merkle tree: its new size (= the last record's seq). */
export interface AuditCommit {
  readonly size: number;
}
export type AuditCommitListener = (commit: AuditCommit) => void;

/** Most records one request-id lookup returns. */
const MAX_RECORDS_PER_REQUEST_ID = 100;
/** Tree nodes kept in memory for proofs (32-byte hashes: about 1 MiB with keys). */
const MAX_CACHED_NODES = 8192;

const nodeKey = (node: NodeId): string => `${node.level}/${node.index}`;

/** A record's entry (leaf) index in the Merkle tree: entries count from 0, seq from 1. */
export function entryIndexOf(record: { readonly seq: number }): number {
  return record.seq - 1;
}

export class StoreAuditLog implements AuditLog {
  private queue: PendingAppend[] = [];
  private readonly nodeCache = new Map<string, Buffer>();
  private commitScheduled = false;
  /** A commit loop is running (it takes appends made meanwhile in its next batch). */
  private committing = false;
  private readonly idleWaiters: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;
  private closed = false;
  private readonly now: () => Date;
  private readonly maxBatch: number;
  private readonly lockWaitMs: number;
  private readonly commitListeners = new Set<AuditCommitListener>();

  constructor(
    private readonly store: DkeStore,
    options: AuditLogOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
    this.lockWaitMs = Math.max(0, options.lockWaitMs ?? 0);
  }

  /** Resolves with the committed record; rejects with ERR_AUDIT_UNAVAILABLE if it could not be written. */
  append(event: AuditEvent): Promise<AuditRecord> {
    // A throw inside the executor (closed log, invalid event) rejects the promise.
    return new Promise((resolve, reject) => {
      if (this.closed) throw new DkeError('ERR_AUDIT_UNAVAILABLE', { detail: 'audit log is closed' });
      const fields = toEventFields(event, this.now().toISOString());
      this.queue.push({ fields, resolve, reject, deadline: performance.now() + this.lockWaitMs });
      // While a retry is pending, it takes this append along (in order).
      if (!this.commitScheduled && this.retryTimer === undefined) {
        this.commitScheduled = true;
        // Let every append of the current turn of the event loop join this batch.
        setImmediate(() => this.startCommits());
      }
    });
  }

  /**
   * Commits everything appended so far, now, and resolves once it is committed (or failed); while the
   * store is locked it resolves with the appends still queued and retries continue.
   */
  async flush(): Promise<void> {
    this.cancelRetry();
    this.startCommits();
    if (this.committing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Number of appends not yet committed (waiting for the next commit or for a locked store). */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Refuses further appends, flushes, and fails what a locked store kept back. The caller closes the store
   * once this resolved.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.cancelRetry();
    this.fail(this.queue.splice(0), 'audit log closed while the store was locked');
  }

  async query(query: AuditQuery): Promise<AuditRecord[]> {
    return (await this.store.queryAuditRows(normalizeQuery(query))).map(toAuditRecord);
  }

  /**
   * Verifies the whole chain and Merkle root, streaming. See verifyAuditChain for `anchor` and
   * `treeHeads` (e.g. a checkpoint's); the store's own tree head is always compared too.
   */
  async verify(
    anchor?: AuditTail,
    treeHeads: readonly AuditTreeHead[] = [],
  ): Promise<AuditVerificationReport> {
    // The stored head first (few reads), then the stream: a record appended in between is simply beyond it.
    const stored = await this.treeHead();
    return verifyAuditChain(this.store.iterateAuditChain(), anchor, [stored, ...treeHeads]);
  }

  /**
   * Calls `listener` with the new tree size after each committed batch (synchronously, in commit order),
   * e.g. for a checkpointer. A listener that throws is not allowed to fail the appends. Returns an
   * unsubscribe function.
   */
  onCommit(listener: AuditCommitListener): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Entries in the Merkle tree (= records committed). */
  treeSize(): Promise<number> {
    return this.store.auditTreeSize();
  }

  /** The RFC 6962 root of the first `size` entries (default: all), from O(log n) stored nodes. */
  async treeHead(size?: number): Promise<AuditTreeHead> {
    const current = await this.treeSize();
    const n = size ?? current;
    checkSize(n, current, 'tree size');
    if (n === 0) return { size: 0, rootHash: emptyRoot() };
    return { size: n, rootHash: (await this.run(rootPlan(n)))[0] as Buffer };
  }

  /** The inclusion proof of entry `index` (= seq - 1) in the tree of `size` (RFC 6962 §2.1.1). */
  async inclusionProof(index: number, size: number): Promise<Buffer[]> {
    checkSize(size, await this.treeSize(), 'tree size');
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new DkeError('ERR_BAD_REQUEST', { message: 'index is not in the tree of that size' });
    }
    return this.run(inclusionProofPlan(index, size));
  }

  /** The consistency proof from the tree of `size1` to the tree of `size2` (RFC 6962 §2.1.2). */
  async consistencyProof(size1: number, size2: number): Promise<Buffer[]> {
    checkSize(size2, await this.treeSize(), 'tree size');
    if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
      throw new DkeError('ERR_BAD_REQUEST', {
        message: 'the old tree size must be between 0 and the new one',
      });
    }
    return this.run(consistencyProofPlan(size1, size2));
  }

  /** The record with this seq (entry index + 1). */
  async record(seq: number): Promise<AuditRecord | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
    const row = await this.store.getAuditRow(seq);
    return row === undefined ? undefined : toAuditRecord(row);
  }

  /** Records carrying this request id (receipts for answers that cannot carry one), oldest first. */
  async findByRequestId(requestId: string): Promise<AuditRecord[]> {
    if (typeof requestId !== 'string' || requestId === '') {
      throw new DkeError('ERR_BAD_REQUEST', { message: 'request id must be a non-empty string' });
    }
    const rows = await this.store.findAuditRowsByRequestId(requestId, MAX_RECORDS_PER_REQUEST_ID);
    return rows.map(toAuditRecord);
  }

  /**
   * Proof hashes from stored nodes. A complete subtree's hash never changes once written, so nodes read
   * once are kept (bounded): receipts issued together share their upper nodes, and most proofs then read
   * only the few nodes near their own leaf.
   */
  private async run(plan: ProofPlan): Promise<Buffer[]> {
    const hashes = plan.nodes.map((node) => this.nodeCache.get(nodeKey(node)));
    const missing = plan.nodes.filter((_, i) => hashes[i] === undefined);
    if (missing.length > 0) {
      const read = await this.store.readAuditTreeNodes(missing);
      if (this.nodeCache.size + read.length > MAX_CACHED_NODES) this.nodeCache.clear();
      let next = 0;
      hashes.forEach((hash, i) => {
        if (hash !== undefined) return;
        const value = read[next++] as Buffer;
        hashes[i] = value;
        this.nodeCache.set(nodeKey(plan.nodes[i] as NodeId), value);
      });
    }
    return plan.assemble(hashes as Buffer[]);
  }

  private startCommits(): void {
    this.commitScheduled = false;
    if (this.committing) return; // the running loop takes these appends in its next batch
    this.committing = true;
    void this.commitLoop();
  }

  /** One batch (one transaction) at a time, in order, until the queue is empty or the store is locked. */
  private async commitLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, this.maxBatch);
        if ((await this.commitBatch(batch)) === 'busy') {
          this.waitForLock();
          return;
        }
        this.queue.splice(0, batch.length);
      }
      this.retryDelayMs = 0;
    } finally {
      // Same synchronous step as the last look at the queue: an append made after it starts a new loop.
      this.committing = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Commits the batch (resolving it) or fails it (rejecting it); 'busy' leaves it queued, untouched. */
  private async commitBatch(batch: readonly PendingAppend[]): Promise<BatchOutcome> {
    let rows: readonly AuditRow[];
    try {
      rows = await this.store.appendAuditRows((tail) => chain(tail, batch));
    } catch (cause) {
      if (isDkeError(cause, 'ERR_STORE_BUSY')) return 'busy';
      this.fail(batch, cause instanceof DkeError ? (cause.detail ?? cause.message) : String(cause), cause);
      return 'done';
    }
    batch.forEach((pending, i) => pending.resolve(toAuditRecord(rows[i] as AuditRow)));
    const last = rows[rows.length - 1];
    if (last !== undefined) this.notifyCommit({ size: last.seq });
    return 'done';
  }

  /**
   * The store is locked: appends whose wait is over fail closed (they are the oldest, at the front, so the
   * order of the rest is kept); the others are retried on a timer with a growing delay.
   */
  private waitForLock(): void {
    const now = performance.now();
    let expired = 0;
    while (expired < this.queue.length && (this.queue[expired] as PendingAppend).deadline <= now)
      expired += 1;
    this.fail(this.queue.splice(0, expired), `the store stayed locked for ${this.lockWaitMs} ms`);
    const first = this.queue[0];
    if (first === undefined) {
      this.retryDelayMs = 0;
      return;
    }
    this.retryDelayMs = Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, this.retryDelayMs * 2));
    const delay = Math.max(0, Math.min(this.retryDelayMs, first.deadline - now));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startCommits();
    }, delay);
  }

  private notifyCommit(commit: AuditCommit): void {
    for (const listener of this.commitListeners) {
      try {
        listener(commit);
      } catch {
        // The records are durable; a listener's failure is its own to report.
      }
    }
  }

  private cancelRetry(): void {
    if (this.retryTimer === undefined) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private fail(batch: readonly PendingAppend[], detail: string, cause?: unknown): void {
    if (batch.length === 0) return;
    const failure = new DkeError('ERR_AUDIT_UNAVAILABLE', {
      detail,
      ...(cause === undefined ? {} : { cause }),
    });
    for (const pending of batch) pending.reject(failure);
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

function checkSize(size: number, current: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > current) {
    throw new DkeError('ERR_BAD_REQUEST', { message: `${what} must be a whole number from 0 to ${current}` });
  }
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
