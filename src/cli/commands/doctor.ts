/**
 * `dke doctor`: a self-test of a running key service (src/doctor, docs/doctor.md). Prints one line per
 * check with its fix, or the report as JSON; exits 11 (ERR_CHECKS_FAILED) when a check failed. The admin
 * token, when one is needed, comes from a file or DKE_TOKEN, never from the command line.
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { DkeError } from '../../errors/index.js';
import { DEFAULT_DOCTOR_TIMEOUT_MS, renderText, runDoctor } from '../../doctor/index.js';
import { collect } from '../output.js';

interface DoctorFlags {
  readonly config?: string;
  readonly url?: string;
  readonly key: string[];
  readonly tokenFile?: string;
  readonly ca?: string;
  readonly timeout: number;
  readonly json?: boolean;
}

async function readFileText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (cause) {
    throw new DkeError('ERR_IO', { message: `cannot read ${what} ${file}`, cause });
  }
}

async function adminToken(flags: DoctorFlags): Promise<string | undefined> {
  const text =
    flags.tokenFile !== undefined ? await readFileText(flags.tokenFile, 'token file') : process.env.DKE_TOKEN;
  if (text === undefined) return undefined;
  const token = text.trim();
  if (token === '') throw new DkeError('ERR_USAGE', { message: 'the admin token is empty' });
  return token;
}

function parseTimeout(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 100 || Number(value) > 120_000) {
    throw new DkeError('ERR_USAGE', { message: `--timeout must be 100-120000 ms, not ${value}` });
  }
  return Number(value);
}

async function doctor(flags: DoctorFlags): Promise<void> {
  if (flags.config === undefined && flags.url === undefined) {
    throw new DkeError('ERR_USAGE', {
      message: 'give the service config (-c) or its public URL (--url)',
      hint: 'on the service machine: dke doctor -c /etc/opendke/dke.yaml',
    });
  }
  const config = flags.config === undefined ? undefined : loadConfig({ file: flags.config });
  const token = await adminToken(flags);
  const report = await runDoctor({
    ...(config === undefined ? {} : { config }),
    ...(flags.url === undefined ? {} : { url: flags.url }),
    keyNames: flags.key,
    ...(token === undefined ? {} : { adminToken: token }),
    ...(flags.ca === undefined ? {} : { ca: await readFileText(flags.ca, 'CA file') }),
    timeoutMs: flags.timeout,
  });
  process.stdout.write(flags.json === true ? `${JSON.stringify(report)}\n` : renderText(report));
  if (!report.ok) {
    throw new DkeError('ERR_CHECKS_FAILED', {
      message: `${report.counts.fail} of ${report.findings.length} checks failed`,
      hint: 'each FAIL line says what to fix; docs/doctor.md explains every check',
    });
  }
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'self-test a running key service: URL, TLS, MS DKE keys and label URLs, audience, issuers, clocks, store, audit',
    )
    .option(
      '-c, --config <file>',
      'the service config file, as dke serve takes it (audience, issuers, store read-only)',
    )
    .option('--url <url>', "the service's public URL (default: server.publicBaseUrl of the config)")
    .option(
      '--key <name>',
      'also check this MS DKE key by name (repeat); needed without store or admin access',
      collect,
      [],
    )
    .option(
      '--token-file <file>',
      'admin bearer token for GET /admin/keys when the store is not local (or DKE_TOKEN)',
    )
    .option(
      '--ca <file>',
      "extra trusted CA certificate(s), PEM, for the service's certificate (a private CA)",
    )
    .option('--timeout <ms>', 'timeout of each network request', parseTimeout, DEFAULT_DOCTOR_TIMEOUT_MS)
    .option('--json', 'print the report as JSON (docs/doctor.md)')
    .addHelpText(
      'after',
      [
        '',
        'One line per check: ok, WARN, FAIL or skip (could not run here), what was found, and the fix.',
        'Key states come from the local store named by the config (opened read-only), else from the admin API',
        'with --token-file/DKE_TOKEN. Nothing is changed anywhere.',
        '',
        'Exit codes: 0 nothing failed (warnings allowed); 11 at least one check failed (ERR_CHECKS_FAILED);',
        '2 usage; 3 a file (token, CA) cannot be read; 9 the config file is invalid.',
      ].join('\n'),
    )
    .action((flags: DoctorFlags) => doctor(flags));
}
