/**
 * A real `dke serve` (child process) on a port chosen beforehand, so its public URL and audience can be
 * written into its config, with the dev issuer of the tests; and `dke doctor` run as a user runs it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DevIssuer } from '../../src/devissuer/index.js';
import type { IssuerConfig } from '../../src/auth/index.js';
import { cliPath } from '../support/paths.js';
import { envWithoutDke } from '../support/server-process.js';
import { issuerConfigFor, TEST_CLAIMS } from '../support/issuer.js';

export const ADMIN_ROLE = 'dke-admin';

export interface ConfigOptions {
  readonly port: number;
  readonly audience?: string;
  readonly extraIssuers?: readonly IssuerConfig[];
  /** The SQLite file (default dke.db): a service on another port needs its own (the log key names the host). */
  readonly database?: string;
}

/** Writes a service config: the public URL and (by default) the audience are http://127.0.0.1:<port>. */
export function writeServiceConfig(
  dir: string,
  name: string,
  issuer: DevIssuer,
  options: ConfigOptions,
): string {
  const url = `http://127.0.0.1:${options.port}`;
  const file = path.join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      server: { host: '127.0.0.1', port: options.port, publicBaseUrl: url },
      store: { database: options.database ?? 'dke.db', masterKeyFile: 'master.key' },
      auth: {
        audience: options.audience ?? url,
        challenge: { authority: issuer.issuer },
        issuers: [
          issuerConfigFor(issuer, { ...TEST_CLAIMS, adminRoles: [ADMIN_ROLE] }),
          ...(options.extraIssuers ?? []),
        ],
      },
      audit: { log: { checkpointIntervalSeconds: 1 } },
      logging: { level: 'warn' },
    }),
  );
  return file;
}

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the compiled `dke` asynchronously (the dev issuer in this process must keep answering). */
export function dke(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: envWithoutDke(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export interface ReportFinding {
  readonly id: string;
  readonly status: string;
  readonly summary: string;
  readonly fix: string | null;
  readonly details: Record<string, unknown>;
}

export interface JsonReport {
  readonly url: string;
  readonly ok: boolean;
  readonly counts: Record<string, number>;
  readonly findings: readonly ReportFinding[];
}

export function parseReport(run: CliRun): JsonReport {
  try {
    return JSON.parse(run.stdout) as JsonReport;
  } catch {
    throw new Error(`doctor printed no JSON report:\n${run.stdout}\n${run.stderr}`);
  }
}

export function findingOf(report: JsonReport, id: string): ReportFinding {
  const found = report.findings.find((f) => f.id === id);
  if (found === undefined)
    throw new Error(`no finding ${id} in ${report.findings.map((f) => f.id).join(', ')}`);
  return found;
}

/** Lines for assertion messages: every finding that is not ok. */
export function notOk(report: JsonReport): string {
  return report.findings
    .filter((f) => f.status !== 'ok')
    .map((f) => `${f.status} ${f.id}: ${f.summary}`)
    .join('\n');
}
