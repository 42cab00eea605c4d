/**
 * Security events (docs/audit.md#security-events): failed authentications, counted per client address,
 * reason, token issuer/subject (when the token's signature verified; else '') and minute in memory and
 * written to the store in batches, off the request path.
 *
 * Bounded everywhere: the in-memory backlog holds at most `maxPending` distinct (minute, address, reason,
 * issuer, subject) entries (a new entry beyond that is dropped and counted; existing entries only grow their count), and
 * every write prunes the table to `maxRows` rows and `maxAgeDays` days. A store locked by another process
 * (ERR_STORE_BUSY) keeps the backlog for the next flush; any other store failure drops the batch (counted
 * and reported): security events never block or fail a request.
 */
import { isDkeError } from '../errors/index.js';
import type { DkeStore, SecurityEventRow } from '../store/index.js';
import { MAX_SECURITY_EVENT_TEXT_CHARS } from './query.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Client addresses are IPs (at most 45 characters); longer text is cut so nobody can bloat the table. */
const MAX_ADDRESS_CHARS = 64;

/** Whose token was refused, when its signature verified (src/auth/refused-token.ts). */
export interface SecurityEventToken {
  readonly issuer: string;
  readonly subject: string;
}

export interface SecurityEventRecorderOptions {
  readonly maxRows: number;
  readonly maxAgeDays: number;
  /** Distinct entries kept in memory between flushes; default 10000. */
  readonly maxPending?: number;
  /** Default 1000 ms. */
  readonly flushIntervalMs?: number;
  readonly now?: () => Date;
  /** Called with how many events were lost (backlog full, or the store failed). */
  readonly onDropped?: (events: number) => void;
  /** Called when a write fails for any reason other than a busy store. */
  readonly onError?: (error: unknown) => void;
}

type Store = Pick<DkeStore, 'recordSecurityEvents'>;

export class SecurityEventRecorder {
  private pending = new Map<string, SecurityEventRow>();
  private readonly timer: NodeJS.Timeout;
  private readonly maxPending: number;
  private readonly now: () => Date;

  constructor(
    private readonly store: Store,
    private readonly options: SecurityEventRecorderOptions,
  ) {
    this.maxPending = Math.max(1, options.maxPending ?? 10_000);
    this.now = options.now ?? (() => new Date());
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Counts one event; `token` names whose verified token it was. Constant time, no I/O. */
  record(clientAddress: string, reason: string, token?: SecurityEventToken): void {
    const at = this.now();
    const address = clientAddress.slice(0, MAX_ADDRESS_CHARS);
    // Bounded so nobody can bloat the backlog or the table (a subject is the signer's text, of any length).
    const issuer = token?.issuer.slice(0, MAX_SECURITY_EVENT_TEXT_CHARS) ?? '';
    const subject = token?.subject.slice(0, MAX_SECURITY_EVENT_TEXT_CHARS) ?? '';
    const windowStart = new Date(Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS).toISOString();
    // JSON keeps the parts apart whatever characters they contain.
    const key = JSON.stringify([windowStart, address, reason, issuer, subject]);
    const seen = at.toISOString();
    const entry = this.pending.get(key);
    if (entry !== undefined) {
      this.pending.set(key, { ...entry, count: entry.count + 1, lastSeen: seen });
      return;
    }
    if (this.pending.size >= this.maxPending) {
      this.options.onDropped?.(1);
      return;
    }
    this.pending.set(key, {
      windowStart,
      clientAddress: address,
      reason,
      issuer,
      subject,
      count: 1,
      firstSeen: seen,
      lastSeen: seen,
    });
  }

  /**
   * Writes the backlog now (never waits for a lock: a busy store keeps it for the next flush). Never rejects.
   * Events counted while the write is under way go into the next one.
   */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const notBefore = new Date(this.now().getTime() - this.options.maxAgeDays * DAY_MS).toISOString();
    try {
      await this.store.recordSecurityEvents([...batch.values()], {
        maxRows: this.options.maxRows,
        notBefore,
      });
    } catch (error) {
      if (isDkeError(error, 'ERR_STORE_BUSY')) {
        this.restore(batch);
        return;
      }
      this.options.onDropped?.(sum(batch));
      this.options.onError?.(error);
    }
  }

  /** Stops the timer and flushes once. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Puts a batch the store could not take back in front of what arrived since, within the bound. */
  private restore(batch: Map<string, SecurityEventRow>): void {
    for (const [key, entry] of this.pending) {
      const older = batch.get(key);
      batch.set(
        key,
        older === undefined
          ? entry
          : { ...older, count: older.count + entry.count, lastSeen: entry.lastSeen },
      );
    }
    let dropped = 0;
    for (const [key, entry] of batch) {
      if (batch.size - dropped <= this.maxPending) break;
      batch.delete(key);
      dropped += entry.count;
    }
    this.pending = batch;
    if (dropped > 0) this.options.onDropped?.(dropped);
  }
}

function sum(batch: Map<string, SecurityEventRow>): number {
  let total = 0;
  for (const entry of batch.values()) total += entry.count;
  return total;
}
