/**
 * Signed checkpoints of the audit log (docs/audit.md, "Checkpoints"): C2SP tlog-checkpoint notes signed with
 * the log key. `signedCheckpoint` signs the current tree head on demand (receipts), cached per size;
 * `persist` stores one in audit_checkpoints (one persist at a time, in call order); `start` persists one
 * every interval while the tree grew.
 *
 * The tree is append-only, so one size has exactly one root: signing a second root for a size already
 * signed (or persisted) is refused with ERR_AUDIT_CHAIN_BROKEN instead of handing out a fork.
 */
import { DkeError, isDkeError } from '../errors/index.js';
import type { CheckpointRow, DkeStore } from '../store/index.js';
import { formatCheckpointBody, signNote, type NoteSignerKey } from '../transparency/index.js';
import type { AuditTreeHead } from './verify.js';

/** What the checkpointer reads of the audit log. */
export interface CheckpointedLog {
  treeSize(): Promise<number>;
  treeHead(size?: number): Promise<AuditTreeHead>;
}

export type CheckpointStore = Pick<DkeStore, 'storeCheckpoint' | 'latestCheckpoint'>;

export interface SignedCheckpoint {
  readonly size: number;
  readonly rootHash: Buffer;
  /** The signed note (log signature only). */
  readonly note: string;
}

export interface CheckpointerOptions {
  readonly log: CheckpointedLog;
  readonly store: CheckpointStore;
  /** The log key (type 0x01); its name is the origin. */
  readonly signer: NoteSignerKey;
  readonly intervalSeconds: number;
  readonly now?: () => Date;
  /** After each signature (metrics). */
  readonly onSigned?: () => void;
  /** After each newly persisted checkpoint (witness submission); must not throw. */
  readonly onPersisted?: (row: CheckpointRow) => void;
  /** A background persist that failed for another reason than a busy store. */
  readonly onError?: (error: unknown) => void;
}

/** Signed notes kept for reuse; receipts of one group commit share one. */
const SIGNED_CACHE_SIZE = 64;

export class Checkpointer {
  private readonly signed = new Map<number, SignedCheckpoint>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;
  /** The persist in progress (or the last one): the next waits for it. */
  private persisting: Promise<unknown> = Promise.resolve();

  /**
   * Reads the latest persisted checkpoint and checks the log still continues it: a restart must continue
   * the tree it checkpointed, so a rewritten log shows here (ERR_AUDIT_CHAIN_BROKEN), before anything is
   * signed.
   */
  static async open(options: CheckpointerOptions): Promise<Checkpointer> {
    const latest = await options.store.latestCheckpoint();
    if (latest !== undefined) {
      const head = await options.log.treeHead(Math.min(latest.size, await options.log.treeSize()));
      if (head.size !== latest.size || !head.rootHash.equals(latest.root)) {
        throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
          detail: `the audit tree no longer matches its persisted checkpoint of size ${latest.size}`,
        });
      }
    }
    return new Checkpointer(options, latest);
  }

  private constructor(
    private readonly options: CheckpointerOptions,
    private latest: CheckpointRow | undefined,
  ) {
    this.now = options.now ?? (() => new Date());
    if (latest !== undefined) this.remember({ size: latest.size, rootHash: latest.root, note: latest.note });
  }

  get origin(): string {
    return this.options.signer.name;
  }

  /** The latest persisted checkpoint. */
  latestPersisted(): CheckpointRow | undefined {
    return this.latest;
  }

  /**
   * A checkpoint note of the current tree, which must cover `minSize` entries. A size signed already is
   * served from the cache without reading its root again (the receipt path: one read less per unwrap).
   */
  async signedCheckpoint(minSize = 0): Promise<SignedCheckpoint> {
    const size = await this.options.log.treeSize();
    if (size < minSize) {
      throw new DkeError('ERR_INTERNAL', { detail: `tree size ${size} is below ${minSize}` });
    }
    return this.signed.get(size) ?? this.signedAt(await this.options.log.treeHead(size));
  }

  /** Persists a checkpoint of the current tree head (unless that size is the latest persisted already). */
  persist(): Promise<CheckpointRow> {
    // One at a time: two overlapping persists could otherwise finish out of order and move `latest` back.
    const run = this.persisting.then(
      () => this.persistNow(),
      () => this.persistNow(),
    );
    this.persisting = run.catch(() => undefined);
    return run;
  }

  private async persistNow(): Promise<CheckpointRow> {
    const head = await this.options.log.treeHead();
    if (this.latest !== undefined && this.latest.size >= head.size) return this.latest;
    const signed = this.signedAt(head);
    const row: CheckpointRow = {
      size: signed.size,
      root: signed.rootHash,
      note: signed.note,
      createdAt: this.now().toISOString(),
    };
    await this.options.store.storeCheckpoint(row);
    this.latest = row;
    this.options.onPersisted?.(row);
    return row;
  }

  /**
   * The newest checkpoint persisted by any process (another cluster worker persists them on its timer):
   * adopted as the latest, so what this process publishes and persists continues it.
   */
  async refreshLatest(): Promise<CheckpointRow | undefined> {
    const stored = await this.options.store.latestCheckpoint();
    if (stored !== undefined && stored.size > (this.latest?.size ?? 0)) this.latest = stored;
    return this.latest;
  }

  /** Persists a checkpoint every interval while the tree grew (also by other processes' appends). */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One background round: a busy store is simply tried again next round (never waited for). Never rejects. */
  async tick(): Promise<void> {
    try {
      if ((await this.options.log.treeSize()) > (this.latest?.size ?? 0)) await this.persist();
    } catch (error) {
      if (!isDkeError(error, 'ERR_STORE_BUSY')) this.options.onError?.(error);
    }
  }

  private signedAt(head: AuditTreeHead): SignedCheckpoint {
    const cached = this.signed.get(head.size);
    if (cached !== undefined) {
      if (!cached.rootHash.equals(head.rootHash)) {
        throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
          detail: `refusing to sign a second root for tree size ${head.size}`,
        });
      }
      return cached;
    }
    if (this.latest !== undefined && head.size < this.latest.size) {
      throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', { detail: 'the audit tree shrank below its checkpoint' });
    }
    const body = formatCheckpointBody({ origin: this.origin, size: head.size, rootHash: head.rootHash });
    const signed = { size: head.size, rootHash: head.rootHash, note: signNote(body, [this.options.signer]) };
    this.options.onSigned?.();
    return this.remember(signed);
  }

  private remember(signed: SignedCheckpoint): SignedCheckpoint {
    this.signed.set(signed.size, signed);
    if (this.signed.size > SIGNED_CACHE_SIZE) {
      // Evict the smallest size but never the persisted one (a restart's anchor).
      for (const size of this.signed.keys()) {
        if (size !== this.latest?.size) {
          this.signed.delete(size);
          break;
        }
      }
    }
    return signed;
  }
}
