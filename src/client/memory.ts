/**
 * Bounded memory for large streams. In a chunk worker (chunk-worker.ts), node:crypto returns each sealed or
 * opened chunk as a fresh buffer outside the V8 heap before it is copied into a recycled one; V8 only
 * collects such garbage once about 64 MiB of it has piled up (its external-memory soft limit), which would
 * cost half the peak-RSS budget. Workers therefore ask for a cheap young-generation collection every few MiB. `gc` is reached through V8's documented --expose-gc
 * flag, set at run time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc: GcFunction | null | undefined;
let thresholdsRaised = false;

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

/** Bytes of chunk traffic between young-generation collections (docs/benchmarks.md, peak RSS). */
export const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

/** Size of the one allocation that raises glibc's dynamic mmap threshold, see raiseAllocatorThresholds. */
const THRESHOLD_PROBE_BYTES = 4 * 1024 * 1024;

/**
 * glibc serves allocations above its mmap threshold (128 KiB at start) with a fresh mmap each, so every
 * 1 MiB chunk result would fault in 256 new pages and unmap them again: measured 180,000 page faults and
 * 0.6 s of system time per GiB. glibc raises the threshold, and its trim threshold to twice that, when an
 * mmapped block up to 32 MiB is freed (mallopt(3), "M_MMAP_THRESHOLD"); one such block, freed at once,
 * keeps chunk results in reused heap memory: 15,000 faults and 0.15 s. Other allocators ignore this.
 */
export function raiseAllocatorThresholds(): void {
  if (thresholdsRaised) return;
  thresholdsRaised = true;
  const collect = collector();
  if (collect === null) return;
  let probe: Buffer | undefined = Buffer.allocUnsafeSlow(THRESHOLD_PROBE_BYTES);
  probe[0] = 1; // used, so it is not optimised away
  probe = undefined;
  collect({ type: 'minor' });
}

/** Counts processed bytes and collects young garbage every COLLECT_EVERY_BYTES. */
export class GarbageBudget {
  private sinceCollect = 0;
  constructor() {
    raiseAllocatorThresholds();
  }
  spend(bytes: number): void {
    this.sinceCollect += bytes;
    if (this.sinceCollect >= COLLECT_EVERY_BYTES) {
      this.sinceCollect = 0;
      collector()?.({ type: 'minor' });
    }
  }
}
