/**
 * The worker threads that seal and open chunks (chunk-worker.ts) while the main thread reads and writes.
 * One pool per process, started on first use and shared by every object, so many small objects do not
 * each pay for starting threads. Buffers travel by transfer, so no chunk is copied between threads, and
 * come back with the result to be reused: the main thread allocates nothing per chunk.
 *
 * Each job carries its object's payload key; the worker wipes its copy after the chunk, so no key outlives
 * its job in a worker. Workers keep the process alive only while they have work; idle, they end after a
 * few seconds.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { DkeError } from '../errors/index.js';
import type { ChunkJob, ChunkOperation, ChunkResult } from './chunk-job.js';

/** A job as sent to a worker: the chunk, what to do, and with which key. */
export interface WorkerJob extends ChunkJob {
  readonly op: ChunkOperation;
  readonly key: Uint8Array;
}

interface Waiting {
  readonly resolve: (result: ChunkResult) => void;
  readonly reject: (error: Error) => void;
}

/** Idle time after which the pool's threads end (a later object starts new ones). */
const IDLE_MS = 5000;

class ChunkWorkerPool {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  failure: Error | undefined;

  constructor(
    count: number,
    private readonly onEnd: (pool: ChunkWorkerPool) => void,
  ) {
    const entry = new URL('./chunk-worker.js', import.meta.url);
    // Not the process's own flags (--input-type, --import, a loader): the entry is plain code of ours.
    this.workers = Array.from({ length: count }, () => new Worker(entry, { execArgv: [] }));
    this.load = this.workers.map(() => 0);
    this.workers.forEach((worker, i) => {
      worker.on('message', (result: ChunkResult) => {
        this.load[i] = (this.load[i] ?? 1) - 1;
        const waiting = this.waiting.get(result.id);
        this.waiting.delete(result.id);
        waiting?.resolve(result);
        if (this.waiting.size === 0) this.becomeIdle();
      });
      // A worker that dies (out of memory, a bug) fails every chunk still waiting, never a hang, and
      // retires the pool: the next object starts a new one.
      const fail = (cause: unknown): void => {
        this.failure ??= new DkeError('ERR_INTERNAL', { detail: 'a chunk worker stopped', cause });
        for (const waiting of this.waiting.values()) waiting.reject(this.failure);
        this.waiting.clear();
        this.end();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (this.failure === undefined && this.idleTimer === undefined) fail(`exit code ${code}`);
      });
    });
  }

  run(op: ChunkOperation, key: Uint8Array, job: ChunkJob): Promise<ChunkResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.waiting.size === 0) this.becomeBusy();
    const target = this.load.indexOf(Math.min(...this.load));
    this.load[target] = (this.load[target] ?? 0) + 1;
    const message: WorkerJob = { ...job, id: this.nextId++, op, key };
    return new Promise<ChunkResult>((resolve, reject) => {
      this.waiting.set(message.id, { resolve: (result) => resolve({ ...result, id: job.id }), reject });
      (this.workers[target] as Worker).postMessage(message, [job.input, job.output]);
    });
  }

  private becomeBusy(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    for (const worker of this.workers) worker.ref(); // the process waits for their answers
  }

  private becomeIdle(): void {
    for (const worker of this.workers) worker.unref(); // idle threads never keep the process alive
    this.idleTimer = setTimeout(() => this.end(), IDLE_MS);
    this.idleTimer.unref();
  }

  private end(): void {
    this.onEnd(this);
    for (const worker of this.workers) void worker.terminate();
  }
}

/**
 * Worker threads for the cipher: one core is left to the main thread, which reads and writes every byte
 * (on 2 cores, one worker beat two: 0.74 s against 0.87 s per GiB, the main thread's reads slowed by the
 * contention), and at most four.
 */
export function cipherThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

let shared: ChunkWorkerPool | undefined;

/** Seals or opens one chunk on the process's worker pool (started with cipherThreads() threads if needed). */
export function runOnWorker(op: ChunkOperation, key: Uint8Array, job: ChunkJob): Promise<ChunkResult> {
  shared ??= new ChunkWorkerPool(cipherThreads(), (pool) => {
    if (shared === pool) shared = undefined;
  });
  return shared.run(op, key, job);
}
