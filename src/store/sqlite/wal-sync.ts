/**
 * Commits made durable off the event loop. The server's connection runs with `synchronous = NORMAL`: a commit
 * writes its WAL frames without fsync, and `sync()` then fdatasyncs the WAL file on libuv's thread pool
 * before the write's promise resolves. That is `synchronous = FULL`'s guarantee (a commit is on disk before
 * anyone is told it happened) without blocking every request for the disk's flush (milliseconds each).
 *
 * One fdatasync covers every frame written before it starts, so concurrent callers share: while one runs,
 * the callers arriving meanwhile wait for a single next one. WAL restarts and checkpoints keep their own
 * syncs in NORMAL mode (the WAL before a checkpoint, the database after it, the header on reuse), so frames
 * that left the WAL are on disk in the database. docs/storage.md, "Durability".
 */
import { open, type FileHandle } from 'node:fs/promises';
import { DkeError } from '../../errors/index.js';

export class WalSync {
  private handle: Promise<FileHandle> | undefined;
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
    const handle = this.handle;
    this.handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }

  private async flush(): Promise<void> {
    try {
      this.handle ??= open(this.walFile, 'r+');
      await (await this.handle).datasync();
    } catch (cause) {
      // Opened again next time (a handle that failed once is not trusted).
      const failed = this.handle;
      this.handle = undefined;
      void failed?.then((h) => h.close()).catch(() => undefined);
      throw new DkeError('ERR_STORE_UNAVAILABLE', {
        detail: `could not flush the key store's write-ahead log ${this.walFile}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      });
    }
  }
}
