/**
 * The Status page's endpoint (docs/console.md, "Status"): GET /status runs `dke doctor`'s checks of this
 * service (src/doctor, through ConsoleSources.doctor: its public URL over HTTP from inside, the issuers, the
 * keys, the store read-only) and answers the report. One run at a time, callers meanwhile join it; a result
 * is reused for CACHE_MS (the page opening), and even `rerun=true` reuses one younger than RERUN_AFTER_MS,
 * so clicking "Run again" quickly cannot pile up probes.
 */
import type { DoctorReport } from '../doctor/index.js';
import { READERS, type ConsoleRouter } from './api.js';
import type { ConsoleSources } from './sources.js';

export const CACHE_MS = 30_000;
export const RERUN_AFTER_MS = 5_000;

export interface StatusAnswer {
  readonly report: DoctorReport;
  /** ISO-8601 UTC when the run ended. */
  readonly checkedAt: string;
  readonly durationMs: number;
  /** The answer is a run kept from earlier (younger than CACHE_MS). */
  readonly cached: boolean;
}

export const statusQuerystring = {
  type: 'object',
  additionalProperties: false,
  properties: { rerun: { type: 'string', enum: ['true'] } },
} as const;

/** `rerun` → the answer: a run kept from earlier, the run under way, or a new one. */
export type StatusRunner = (rerun: boolean) => Promise<StatusAnswer>;

export function statusRunner(
  doctor: () => Promise<DoctorReport>,
  now: () => number = Date.now,
): StatusRunner {
  let running: Promise<StatusAnswer> | undefined;
  let last: { answer: StatusAnswer; at: number } | undefined;
  const runOnce = async (): Promise<StatusAnswer> => {
    const started = now();
    const report = await doctor();
    const at = now();
    const answer = { report, checkedAt: new Date(at).toISOString(), durationMs: at - started, cached: false };
    last = { answer, at };
    return answer;
  };
  return (rerun: boolean): Promise<StatusAnswer> => {
    if (last !== undefined && running === undefined) {
      const age = now() - last.at;
      if (age < (rerun ? RERUN_AFTER_MS : CACHE_MS)) return Promise.resolve({ ...last.answer, cached: true });
    }
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  };
}

export function registerStatusApi(route: ConsoleRouter, sources: ConsoleSources): void {
  const status = statusRunner(sources.doctor);
  route(
    {
      method: 'GET',
      url: '/status',
      action: 'console.status.get',
      roles: READERS,
      schema: { querystring: statusQuerystring },
    },
    ({ request, audited }) =>
      audited({}, () => status((request.query as { rerun?: string }).rerun === 'true')),
  );
}
