/**
 * Commits made durable off the event loop. The server's connection runs with `synchronous = NORMAL`: a commit
 * writes its WAL frames without fsync, and `sync()` then fdatasyncs the WAL file on a thread of its own
 * before the write's promise resolves. That is `synchronous = FULL`'s guarantee (a commit is on disk before
 * anyone is told it happened) without blocking every request for the disk's flush (milliseconds each).
 *
 * The thread is a dedicated one, not libuv's pool: the pool is first come first served and busy with the
 * private-key operations under load, so a flush queued there would wait behind them (and every request
 * waiting for the commit with it).
 *
 * One fdatasync covers every frame written before it starts, so concurrent callers share: while one runs,
 * the callers arriving meanwhile wait for a single next one. WAL restarts and checkpoints keep their own
 * syncs in NORMAL mode (the WAL before a checkpoint, the database after it, the header on reuse), so frames
 * that left the WAL are on disk in the database. docs/storage.md, "Durability".
 */
import { Worker } from 'node:worker_threads';
import { DkeError } from '../../errors/index.js';

/** The flusher thread's module (wal-flusher.ts, compiled beside this one). */
const FLUSHER = new URL('./wal-flusher.js', import.meta.url);

export class WalSync {
  private thread: Worker | undefined;
  /** Callers of the flush under way, answered in order (one message in flight at a time). */
  private waiting: ((error: string | null) => void) | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly walFile: string) {}

  /** Resolves once every commit made before the call is on disk; rejects ERR_STORE_UNAVAILABLE if not. */
  sync(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.flush().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // The running flush may have started before this caller's commit: the next one covers it.
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.sync();
      });
    return this.next;
  }

  async close(): Promise<void> {
    // A flush queued behind the running one has callers waiting too: let it run before the thread goes.
    while (this.running !== undefined || this.next !== undefined)
      await (this.next ?? this.running)?.catch(() => undefined);
    const thread = this.thread;
    this.thread = undefined;
    await thread?.terminate();
  }

  private flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const thread = this.flusher();
      // Referenced only while a flush is under way: it is awaited; an idle flusher keeps nothing alive.
      thread.ref();
      this.waiting = (error) => {
        this.waiting = undefined;
        thread.unref();
        if (error === null) resolve();
        else reject(this.failure(error));
      };
      thread.postMessage(0);
    });
  }

  /** Started on the first flush. */
  private flusher(): Worker {
    if (this.thread !== undefined) return this.thread;
    // No inherited flags: the parent's (`--input-type`, `--cpu-prof`, ...) mean nothing to this thread.
    const thread = new Worker(FLUSHER, { workerData: this.walFile, execArgv: [] });
    thread.on('message', (error: string | null) => this.waiting?.(error));
    const lost = (detail: string): void => {
      if (this.thread === thread) this.thread = undefined;
      this.waiting?.(detail);
    };
    thread.on('error', (error) => lost(error.message));
    thread.on('exit', (code) => lost(`the flusher thread exited (${code})`));
    this.thread = thread;
    return thread;
  }

  private failure(detail: string): DkeError {
    return new DkeError('ERR_STORE_UNAVAILABLE', {
      detail: `could not flush the key store's write-ahead log ${this.walFile}: ${detail}`,
    });
  }
}
