/**
 * Audit appends per second straight on a store (docs/benchmarks.md, "Key service on PostgreSQL"): the real
 * StoreAuditLog over openStore, `concurrency` appends always in flight (group-committed) for `seconds`, from
 * one or more processes appending to one log at once; the log is verified afterwards.
 *
 * Each process is this module run as a script: `node dist/bench/audit-append.js DATABASE SECONDS CONCURRENCY
 * START_EPOCH_MS` opens the store, waits for the start time (so all processes overlap), appends, and prints
 * its AppendRun as JSON on stdout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StoreAuditLog } from '../src/audit/index.js';
import { openStore } from '../src/store/index.js';
import { syntheticEvent } from './audit.js';
import { cleanEnv, log, machineBusySeconds, num, processCpuSeconds, runOk } from './util.js';

export interface AppendRun {
  readonly appends: number;
  readonly seconds: number;
  /** This process's CPU over the run, % of one core. */
  readonly cpuPercent: number;
}

/** Audit appends in flight per appending process. */
export const APPEND_CONCURRENCY = 256;
/** The appending processes start together this long after being spawned (Node start-up, connecting). */
const START_DELAY_MS = 2_000;

export async function appendFor(
  database: string,
  seconds: number,
  concurrency: number,
  startAt = Date.now(),
): Promise<AppendRun> {
  const store = await openStore(database);
  const audit = new StoreAuditLog(store);
  try {
    await sleep(Math.max(0, startAt - Date.now()));
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let appends = 0;
    const appender = async (): Promise<void> => {
      while (performance.now() < deadline) {
        await audit.append(syntheticEvent(appends));
        appends += 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, appender));
    const wall = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { appends, seconds: wall, cpuPercent: ((cpu.user + cpu.system) / 1e6 / wall) * 100 };
  } finally {
    await audit.close();
    await store.close();
  }
}

export interface Appends {
  readonly runs: readonly AppendRun[];
  /** Sum over the processes of appends ÷ that process's seconds. */
  readonly perSecond: number;
  /** The database server's processes (`databasePid` and its children), % of one core. */
  readonly databaseCpuPercent: number | undefined;
  /** The whole machine, every process, % of one core. */
  readonly machineCpuPercent: number | undefined;
  /** What verifying the log found afterwards. */
  readonly records: number;
  /** Chain and Merkle tree intact, and every append in it exactly once (no fork, nothing lost). */
  readonly ok: boolean;
}

/** `processes` processes appending to the log of `database` (empty, or created here) at once, then verified. */
export async function appendFromProcesses(
  database: string,
  processes: number,
  seconds: number,
  databasePid: number | undefined,
): Promise<Appends> {
  await (await openStore(database)).close(); // creates the schema once, before the appenders race
  const startAt = Date.now() + START_DELAY_MS;
  // CPU counters at the start instant and once the last process has finished.
  const counters = (): { database?: number; machine?: number; at: number } => ({
    database: processCpuSeconds([databasePid]),
    machine: machineBusySeconds(),
    at: performance.now(),
  });
  let before: ReturnType<typeof counters> | undefined;
  const sample = setTimeout(() => (before = counters()), START_DELAY_MS);
  const runs = await Promise.all(
    Array.from({ length: processes }, async () => {
      const args = [fileURLToPath(import.meta.url), database, String(seconds), String(APPEND_CONCURRENCY)];
      const result = await runOk(
        { file: process.execPath, args: [...args, String(startAt)], env: cleanEnv() },
        { timeoutMs: (seconds + 60) * 1000, captureStdout: true },
      );
      return JSON.parse(result.stdout) as AppendRun;
    }),
  ).finally(() => clearTimeout(sample));
  const after = counters();
  const percent = (field: 'database' | 'machine'): number | undefined => {
    const [b, a] = [before?.[field], after[field]];
    if (before === undefined || b === undefined || a === undefined) return undefined;
    return ((a - b) / ((after.at - before.at) / 1000)) * 100;
  };
  const perSecond = runs.reduce((sum, r) => sum + r.appends / r.seconds, 0);
  const appended = runs.reduce((sum, r) => sum + r.appends, 0);
  const store = await openStore(database, { readonly: true });
  try {
    const verified = await new StoreAuditLog(store).verify();
    const ok = verified.ok && verified.records === appended;
    const broken = verified.firstBroken;
    log(
      `  ${processes} appending process(es): ${num(perSecond, 0)} appends/s; log: ${verified.records} records ` +
        `of ${appended} appended, ${ok ? 'intact' : `BROKEN${broken ? ` at ${broken.seq}: ${broken.reason}` : ''}`}`,
    );
    return {
      runs,
      perSecond,
      databaseCpuPercent: percent('database'),
      machineCpuPercent: percent('machine'),
      records: verified.records,
      ok,
    };
  } finally {
    await store.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [database, seconds, concurrency, startAt] = process.argv.slice(2);
  if (database === undefined || startAt === undefined) {
    process.stderr.write(
      'usage: node dist/bench/audit-append.js DATABASE SECONDS CONCURRENCY START_EPOCH_MS\n',
    );
    process.exit(2);
  }
  appendFor(database, Number(seconds), Number(concurrency), Number(startAt)).then(
    (run) => process.stdout.write(`${JSON.stringify(run)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
