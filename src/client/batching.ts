/** How the streaming encrypt/decrypt cut work for the chunk workers. */
import { INLINE_WORKERS, defaultChunkWorkers, type ChunkWorkers } from './chunk-workers.js';

/** Chunks per batch: 16 × 64 KiB = 1 MiB per worker message (few messages, small memory). */
export const BATCH_CHUNKS = 16;

/** Batches in flight at once: enough to keep every worker busy; one when everything runs inline. */
export function inFlightBatches(configured: ChunkWorkers | undefined): number {
  const workers = configured ?? defaultChunkWorkers();
  return workers === INLINE_WORKERS ? 1 : 4;
}

/** The first batch runs inline, so small objects never wait for worker threads to start. */
export function pickWorkers(configured: ChunkWorkers | undefined, batchIndex: number): ChunkWorkers {
  if (configured !== undefined) return configured;
  return batchIndex === 0 ? INLINE_WORKERS : defaultChunkWorkers();
}
