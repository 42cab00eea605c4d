/**
 * Bounded memory for large streams. Each sealed or opened chunk is a fresh Buffer outside the V8 heap;
 * V8 only collects such garbage once about 64 MiB of it has piled up (its external-memory soft limit),
 * which alone would break the 64 MiB peak-RSS budget. Streams therefore ask for a cheap young-generation
 * collection every few MiB. `gc` is reached through V8's documented --expose-gc flag, set at run time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc: GcFunction | null | undefined;

function collector(): GcFunction | null {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as GcFunction;
    } catch {
      gc = null; // not available (e.g. a restricted runtime): memory is then bounded by V8's own limit
    }
  }
  return gc;
}

/**
 * Bytes of chunk traffic between young-generation collections. Measured on 1 GiB: 2 MiB keeps the
 * CLI's peak RSS about 30 MiB lower than leaving it to V8 (docs/benchmarks.md).
 */
export const COLLECT_EVERY_BYTES = 2 * 1024 * 1024;

/** Counts processed bytes and collects young garbage every COLLECT_EVERY_BYTES. */
export class GarbageBudget {
  private sinceCollect = 0;
  spend(bytes: number): void {
    this.sinceCollect += bytes;
    if (this.sinceCollect >= COLLECT_EVERY_BYTES) {
      this.sinceCollect = 0;
      collector()?.({ type: 'minor' });
    }
  }
}
