/**
 * Shared helpers of the benchmark suite (docs/benchmarks.md): paths, sizes, child processes that are always
 * bounded in time and always cleaned up, temporary directories, /usr/bin/time peak RSS and markdown tables.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as dist/bench/util.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The compiled `dke` CLI. */
export const DKE_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** Throughput unit of every table: decimal megabytes per second (10^6 bytes/s), like `openssl speed`. */
export const MB = 1_000_000;

/** The result of one benchmark phase: JSON for bench/results and markdown for people. */
export interface PhaseResult {
  readonly phase: string;
  readonly data: object;
  readonly markdown: string;
  readonly targets: readonly TargetCheck[];
}

/** One target of docs/benchmarks.md, measured. `pass` is undefined when it could not be evaluated. */
export interface TargetCheck {
  readonly target: string;
  readonly required: string;
  readonly measured: string;
  readonly pass: boolean | undefined;
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** "64M", "1G", "10GiB", "512k", "1048576" (binary multiples) → bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (match?.[1] === undefined) throw new Error(`not a size: ${text} (examples: 64M, 1G, 10G)`);
  const power = ['', 'k', 'm', 'g', 't'].indexOf((match[2] ?? '').toLowerCase());
  const bytes = Math.round(Number(match[1]) * 1024 ** power);
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`size out of range: ${text}`);
  return bytes;
}

export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['TiB', 1024 * GiB],
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(2))} ${unit}`;
  }
  return `${bytes} B`;
}

/** A number for a table: fixed digits, or "–" when unknown. */
export function num(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toFixed(digits);
}

export function ratio(ours: number | undefined, theirs: number | undefined): number | undefined {
  if (ours === undefined || theirs === undefined || !(theirs > 0)) return undefined;
  return ours / theirs;
}

export function ratioText(value: number | undefined): string {
  return value === undefined ? '–' : `${value.toFixed(2)}×`;
}

export function verdict(pass: boolean | undefined): string {
  return pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL';
}

export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
  const lines = [
    `| ${headers.map(escape).join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (index: number): number => sorted[index] ?? NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
}

/** Absolute path of an executable on PATH (or an absolute path that is executable), else undefined. */
export function which(command: string): string | undefined {
  const candidates = command.includes('/')
    ? [command]
    : (process.env.PATH ?? '').split(':').map((dir) => path.join(dir || '.', command));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** First line of `command args` output (stdout, else stderr), or undefined when it cannot run. */
export function versionOf(command: string, args: readonly string[]): string | undefined {
  if (which(command) === undefined) return undefined;
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  const text = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim();
  return text === '' ? undefined : text.split('\n')[0]?.trim();
}

/** Bytes available to an unprivileged user on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

// ---- temporary directories and child processes, cleaned up whatever happens

const temporaryDirs = new Set<string>();
const children = new Set<ChildProcess>();

export function makeTempDir(root: string, prefix: string): string {
  const dir = mkdtempSync(path.join(root, prefix));
  temporaryDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  temporaryDirs.delete(dir);
}

/** Remembers a child so cleanupAll() (also run on exit and signals) kills it. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

const cleanups = new Set<() => void>();

/**
 * Runs `cleanup` (synchronous) from cleanupAll, after the children are killed, e.g. to stop a database
 * server that outlives us. Returns the function that unregisters it once it was cleaned up normally.
 */
export function atCleanup(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Synchronous on purpose: it also runs in the process 'exit' handler. */
export function cleanupAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const cleanup of cleanups) cleanup();
  cleanups.clear();
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
  temporaryDirs.clear();
}

export interface CommandSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface RunOptions {
  /** The child is killed (SIGKILL) after this long and the run fails. */
  readonly timeoutMs: number;
  /** Wrap the command in `/usr/bin/time -f %M` (peak RSS in KiB) when that program exists. */
  readonly measureRss?: boolean;
  readonly captureStdout?: boolean;
  /** Text written to the child's stdin (else stdin is /dev/null). */
  readonly input?: string;
}

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Wall time from spawn to exit. */
  readonly seconds: number;
  readonly stdout: string;
  /** The last 64 KiB of stderr. */
  readonly stderr: string;
  /** Peak resident set size, KiB (with measureRss and /usr/bin/time). */
  readonly maxRssKiB: number | undefined;
}

export const TIME_PROGRAM = '/usr/bin/time';
const STDERR_LIMIT = 64 * 1024;

/** Runs a command with a hard time limit; resolves whatever its exit status (see expectSuccess). */
export async function runCommand(spec: CommandSpec, options: RunOptions): Promise<CommandResult> {
  const rss = options.measureRss === true && which(TIME_PROGRAM) !== undefined;
  const rssFile = rss ? path.join(makeTempDir(tmpdir(), 'dke-bench-rss-'), 'rss.txt') : undefined;
  const file = rssFile === undefined ? spec.file : TIME_PROGRAM;
  const args = rssFile === undefined ? spec.args : ['-f', '%M', '-o', rssFile, spec.file, ...spec.args];
  const started = performance.now();
  const child = spawn(file, args, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: [
      options.input === undefined ? 'ignore' : 'pipe',
      options.captureStdout ? 'pipe' : 'ignore',
      'pipe',
    ],
  });
  trackChild(child);
  if (options.input !== undefined) child.stdin?.end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_LIMIT);
  });
  let ended = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', () => {
        ended = performance.now();
      });
      child.once('close', (exitCode: number | null, exitSignal: NodeJS.Signals | null) =>
        resolve([exitCode, exitSignal]),
      );
    });
    if (timedOut) {
      throw new Error(
        `${path.basename(spec.file)} ${spec.args.join(' ')} did not finish within ${options.timeoutMs / 1000} s`,
      );
    }
    let maxRssKiB: number | undefined;
    if (rssFile !== undefined) {
      try {
        const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
        const value = Number(lines[lines.length - 1]);
        maxRssKiB = Number.isFinite(value) ? value : undefined;
      } catch {
        maxRssKiB = undefined;
      }
    }
    return { code, signal, seconds: (ended - started) / 1000, stdout, stderr, maxRssKiB };
  } finally {
    clearTimeout(timer);
    if (rssFile !== undefined) removeTempDir(path.dirname(rssFile));
  }
}

export function describeCommand(spec: CommandSpec): string {
  return [spec.file === process.execPath ? 'node' : path.basename(spec.file), ...spec.args].join(' ');
}

/** Throws with the command and the end of its stderr unless it exited 0. */
export function expectSuccess(result: CommandResult, spec: CommandSpec): CommandResult {
  if (result.code !== 0) {
    const tail = result.stderr.trim().split('\n').slice(-8).join('\n');
    throw new Error(
      `${describeCommand(spec)} failed (${result.signal ?? `exit ${String(result.code)}`})${tail === '' ? '' : `:\n${tail}`}`,
    );
  }
  return result;
}

/** Runs a command that must succeed. */
export async function runOk(spec: CommandSpec, options: RunOptions): Promise<CommandResult> {
  return expectSuccess(await runCommand(spec, options), spec);
}

/** The environment without DKE_* variables, so a developer's settings cannot redirect the benchmark. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DKE_')));
}

/** `node dist/src/cli/main.js ...args`, as a user runs `dke`. */
export function dke(args: readonly string[]): CommandSpec {
  return { file: process.execPath, args: [DKE_CLI, ...args], env: cleanEnv() };
}

// ---- CPU time of other processes

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return clockTicks;
}

/** utime, stime, cutime, cstime of one process in seconds, from /proc; undefined when it is gone. */
function procTimes(pid: number): number[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ", field 3 (state) is index 0: utime..cstime (fields 14-17) are indexes 11-14.
    return fields.slice(11, 15).map((f) => Number(f) / ticksPerSecond());
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine (every core, every process) has been busy since boot; undefined off Linux. */
export function machineBusySeconds(): number | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    const busy = fields.slice(0, 8).reduce((sum, ticks, i) => (i === 3 || i === 4 ? sum : sum + ticks), 0);
    return Number.isFinite(busy) ? busy / ticksPerSecond() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) that processes and their children have used so far, from /proc; undefined off
 * Linux. Children count whether still running (their own times) or reaped (the parent's cutime/cstime), so a
 * difference covers e.g. every PostgreSQL backend of a postmaster, including those that ended in between.
 */
export function processCpuSeconds(pids: readonly (number | undefined)[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const times = pid === undefined ? undefined : procTimes(pid);
    if (times === undefined) return undefined;
    total += times.reduce((a, b) => a + b, 0);
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
    } catch {
      /* no children file: only the process itself and its reaped children count */
    }
    for (const child of children)
      total += (procTimes(Number(child)) ?? []).slice(0, 2).reduce((a, b) => a + b, 0);
  }
  return total;
}
