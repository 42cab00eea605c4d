/**
 * The real `dke serve` in a child process, as an operator runs it: for tests that need several instances
 * or must kill one with SIGKILL (test/service/postgres-ha.test.ts), and for bench/service.ts. The child's
 * address is read from its "listening on" log line; stderr is kept (last 16 KiB) for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/cli/main.js, from dist/test/support. */
export const DKE_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface ServerProcess {
  readonly child: ChildProcess;
  /** e.g. http://127.0.0.1:40123 */
  readonly url: string;
  stderrTail(): string;
}

export interface ServerProcessOptions {
  readonly cwd: string;
  /** The child's whole environment (default: ours without DKE_* variables, so a developer's shell cannot leak in). */
  readonly env?: NodeJS.ProcessEnv;
  readonly startTimeoutMs?: number;
  /** Where the child's stdout (its JSON log lines) goes; default nowhere. */
  readonly stdoutFile?: string;
  /** Called once the child started (e.g. to kill it at process exit). */
  readonly track?: (child: ChildProcess) => void;
}

export function envWithoutDke(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DKE_')));
  return { ...env, ...extra };
}

export async function startServerProcess(
  configFile: string,
  options: ServerProcessOptions,
): Promise<ServerProcess> {
  const stdout = options.stdoutFile === undefined ? 'ignore' : openSync(options.stdoutFile, 'a');
  const child = spawn(process.execPath, [DKE_CLI, 'serve', '--config', configFile], {
    cwd: options.cwd,
    stdio: ['ignore', stdout, 'pipe'],
    env: options.env ?? envWithoutDke(),
  });
  if (typeof stdout === 'number') closeSync(stdout);
  options.track?.(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-16_384);
  });
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`dke serve did not start within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    const onData = (): void => {
      const match = /listening on (https?:\/\/[^\s"]+)/.exec(stderr);
      if (match?.[1] !== undefined) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`dke serve exited (${String(code)}) before listening:\n${stderr}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
  return { child, url, stderrTail: () => stderr };
}

/** SIGTERM (graceful: pending audit records are committed), SIGKILL after `graceMs`. */
export async function stopServerProcess(server: ServerProcess, graceMs = 15_000): Promise<void> {
  await signalAndWait(server, 'SIGTERM', graceMs);
}

/** SIGKILL: no shutdown handler runs, as after the OOM killer or a power cut. */
export async function killServerProcess(server: ServerProcess): Promise<void> {
  await signalAndWait(server, 'SIGKILL', 0);
}

async function signalAndWait(server: ServerProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  if (timer !== undefined) clearTimeout(timer);
}
