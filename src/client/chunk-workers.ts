/**
 * Where chunk sealing/opening runs. The inline default runs on the calling thread; a worker pool
 * (added for throughput) implements the same interface, so the format code never changes.
 */
export interface ChunkWorkers {
  /** How many chunks may be in flight at once. */
  readonly concurrency: number;
  /** Whether a chunk of this size should go to the workers (small ones are cheaper inline). */
  available(length: number): boolean;
  seal(key: Buffer, index: number, last: boolean, plaintext: Buffer): Promise<Buffer>;
  open(key: Buffer, index: number, last: boolean, sealed: Buffer): Promise<Buffer>;
}

export const INLINE_WORKERS: ChunkWorkers = {
  concurrency: 1,
  available: () => false,
  seal: () => Promise.reject(new Error('inline workers do not seal asynchronously')),
  open: () => Promise.reject(new Error('inline workers do not open asynchronously')),
};

export function defaultChunkWorkers(): ChunkWorkers {
  return INLINE_WORKERS;
}
