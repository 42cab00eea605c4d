/**
 * The Integrity page's verification (docs/console.md, "Integrity"): one full verification of the log at a
 * time in this process. A caller arriving while one runs joins it and gets its result, so a flood of
 * "Verify now" clicks or report downloads costs one pass over the log, not one each. The last result is
 * kept (in this process only: another instance, or this one after a restart, has its own) for the page and
 * its alarm.
 */
import type { IntegrityStatement } from '../report/index.js';

export interface VerificationResult {
  /** ISO-8601 UTC. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly statement: IntegrityStatement;
}

export interface IntegrityMonitor {
  /** Runs a verification, or joins the one under way; rejects when it could not run (e.g. a busy store). */
  verify(): Promise<VerificationResult>;
  /** The last verification that ran to the end in this process. */
  last(): VerificationResult | undefined;
  /** Whether one is under way. */
  running(): boolean;
}

export function createIntegrityMonitor(
  run: () => Promise<IntegrityStatement>,
  now: () => number = Date.now,
): IntegrityMonitor {
  let current: Promise<VerificationResult> | undefined;
  let last: VerificationResult | undefined;

  async function verifyOnce(): Promise<VerificationResult> {
    const started = now();
    const statement = await run();
    const finished = now();
    const result = {
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      statement,
    };
    last = result;
    return result;
  }

  return {
    verify() {
      current ??= verifyOnce().finally(() => {
        current = undefined;
      });
      return current;
    },
    last: () => last,
    running: () => current !== undefined,
  };
}
