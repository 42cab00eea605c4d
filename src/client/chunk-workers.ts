/**
 * Where batches of chunks are sealed and opened: inline on the calling thread, or on a pool of worker
 * threads (one per core) so encryption and decryption use every core while the main thread does I/O.
 * Output order and the format's authentication rules are unchanged: batches are independent and results
 * are released strictly in order (ordered-map.ts), each only after all its chunks verified.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DkeError, ERRORS, type ErrorCode } from '../errors/index.js';
import { openBatch, sealBatch, type BatchJob } from '../format/chunk-batch.js';
import type { WorkerReply, WorkerRequest } from './chunk-worker.js';

export interface ChunkWorkers {
  run(op: 'seal' | 'open', job: BatchJob): Promise<Buffer>;
}

export const INLINE_WORKERS: ChunkWorkers = {
  run: (op, job) => Promise.resolve(op === 'seal' ? sealBatch(job) : openBatch(job)),
};

interface Pending {
  resolve(data: Buffer): void;
  reject(error: Error): void;
}

/** A fixed pool of worker threads; idle workers do not keep the process alive. */
export class WorkerPool implements ChunkWorkers {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(readonly size: number) {}

  private spawn(): { worker: Worker; busy: number } {
    const worker = new Worker(new URL('./chunk-worker.js', import.meta.url));
    const slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      slot.busy--;
      if (slot.busy === 0) worker.unref();
      if (waiter === undefined) return;
      if ('data' in reply)
        waiter.resolve(Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength));
      else
        waiter.reject(
          new DkeError(reply.code in ERRORS ? (reply.code as ErrorCode) : 'ERR_INTERNAL', {
            detail: reply.detail,
          }),
        );
    });
    worker.on('error', (error) => {
      // A crashed worker fails everything in flight; the slot is replaced on next use.
      for (const [id, waiter] of this.pending) {
        waiter.reject(new DkeError('ERR_INTERNAL', { detail: `chunk worker failed: ${String(error)}` }));
        this.pending.delete(id);
      }
      const index = this.workers.indexOf(slot);
      if (index >= 0) this.workers.splice(index, 1);
    });
    this.workers.push(slot);
    return slot;
  }

  run(op: 'seal' | 'open', job: BatchJob): Promise<Buffer> {
    const slot =
      this.workers.length < this.size
        ? this.spawn()
        : this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    // Transfer the batch's memory instead of copying it; copy first if the buffer is a view into a larger one.
    const data =
      job.data.byteOffset === 0 && job.data.byteLength === job.data.buffer.byteLength
        ? job.data
        : Buffer.from(job.data);
    const request: WorkerRequest = { ...job, data, id, op };
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage(request, [data.buffer as ArrayBuffer]);
    });
  }
}

let sharedPool: WorkerPool | undefined;

/** The process-wide pool, one worker per available core (none on a single core). */
export function defaultChunkWorkers(): ChunkWorkers {
  const cores = availableParallelism();
  if (cores < 2 || process.env.DKE_WORKERS === '0') return INLINE_WORKERS;
  sharedPool ??= new WorkerPool(Math.min(cores, 8));
  return sharedPool;
}
