/**
 * The OpenDKE benchmark suite (docs/benchmarks.md): `npm run bench -- [options]`.
 *
 * Prints the machine, runs the selected phases (files, service, audit, stores, hsm), writes every number as JSON to
 * bench/results/<time>.json, the markdown report to bench/results/<time>.md and to stdout (progress goes to
 * stderr), and optionally to --markdown FILE (e.g. docs/benchmarks-results.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runAudit } from './audit.js';
import { runFiles } from './files.js';
import { runHsmService } from './hsm-service.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { runService } from './service.js';
import { runStores } from './stores.js';
import {
  cleanupAll,
  formatSize,
  log,
  markdownTable,
  parseSize,
  REPO_ROOT,
  verdict,
  type PhaseResult,
  type TargetCheck,
} from './util.js';

const PHASES = ['files', 'service', 'audit', 'stores', 'hsm'] as const;
type Phase = (typeof PHASES)[number];

const USAGE = `usage: npm run bench -- [options]

  --size SIZE            file throughput test size (default 1G; K/M/G are binary)
  --rss-large SIZE       size of the extra peak-RSS run of dke encrypt/decrypt (default 10G; 0 skips it)
  --quick                skip the large RSS run, 3 s load phases, 1 s openssl speed runs
  --only LIST            phases to run, comma-separated: files,service,audit,stores,hsm (default all);
                         stores = the key service and audit appends on SQLite vs PostgreSQL (1 and 2 instances);
                         hsm = the key service with software keys vs keys in an NSS softoken token
  --runs N               timed runs per file row and per audit verify, best counts (default 3)
  --audit-records N      audit records to verify (default 1000000)
  --duration SECONDS     each service/stores load phase and audit append run (default 10; 3 with --quick)
  --connections LIST     connection counts of the saturation search (default 8,16,32)
  --log-level LEVEL      key service log level during the load (default info; logs go to /dev/null)
  --tmpdir DIR           where test files and stores are created (default ${os.tmpdir()})
  --markdown FILE        also write the markdown report to FILE (e.g. docs/benchmarks-results.md)
  -h, --help             this text
`;

interface Settings {
  readonly size: number;
  readonly rssLarge: number | undefined;
  readonly quick: boolean;
  readonly phases: readonly Phase[];
  readonly runs: number;
  readonly auditRecords: number;
  readonly durationSeconds: number;
  readonly connections: readonly number[];
  readonly logLevel: string;
  readonly tmpRoot: string;
  readonly markdownFile: string | undefined;
}

function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

function parseSettings(argv: readonly string[]): Settings | undefined {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      size: { type: 'string', default: '1G' },
      'rss-large': { type: 'string', default: '10G' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      runs: { type: 'string', default: '3' },
      'audit-records': { type: 'string', default: '1000000' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '8,16,32' },
      'log-level': { type: 'string', default: 'info' },
      tmpdir: { type: 'string', default: os.tmpdir() },
      markdown: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const only = (values.only ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  for (const phase of only) {
    if (!(PHASES as readonly string[]).includes(phase))
      throw new Error(`--only takes ${PHASES.join(', ')}, not ${phase}`);
  }
  const quick = values.quick;
  const size = parseSize(values.size);
  if (size < 64 * 1024) throw new Error('--size must be at least 64K');
  const rssLarge = parseSize(values['rss-large']);
  return {
    size,
    rssLarge: quick || rssLarge === 0 ? undefined : rssLarge,
    quick,
    phases: only.length === 0 ? PHASES : PHASES.filter((p) => only.includes(p)),
    runs: positiveInt('runs', values.runs),
    auditRecords: positiveInt('audit-records', values['audit-records']),
    durationSeconds: positiveInt('duration', values.duration ?? (quick ? '3' : '10')),
    connections: values.connections.split(',').map((c) => positiveInt('connections', c.trim())),
    logLevel: values['log-level'],
    tmpRoot: path.resolve(values.tmpdir),
    markdownFile: values.markdown === undefined ? undefined : path.resolve(values.markdown),
  };
}

function gitDescription(): string | undefined {
  const run = (args: string[]): string | undefined => {
    const result = spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 10_000 });
    return result.status === 0 ? result.stdout.trim() : undefined;
  };
  const commit = run(['rev-parse', '--short', 'HEAD']);
  if (commit === undefined) return undefined;
  return `${commit}${run(['status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : ''}`;
}

async function runPhase(phase: Phase, settings: Settings): Promise<PhaseResult> {
  const referenceSeconds = settings.quick ? 1 : 3;
  // The service, stores and hsm phases load the key service alike.
  const load = {
    tmpRoot: settings.tmpRoot,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.quick ? 1 : 2,
    connectionLevels: settings.connections,
    logLevel: settings.logLevel,
  };
  switch (phase) {
    case 'files':
      return runFiles({
        size: settings.size,
        rssLarge: settings.rssLarge,
        runs: settings.runs,
        tmpRoot: settings.tmpRoot,
        opensslSeconds: referenceSeconds,
      });
    case 'service':
      return runService({ ...load, referenceSeconds });
    case 'audit':
      return runAudit({ records: settings.auditRecords, runs: settings.runs, tmpRoot: settings.tmpRoot });
    case 'stores':
      return runStores(load);
    case 'hsm':
      return runHsmService(load);
  }
}

function resultStamp(date: Date): string {
  // ISO 8601 basic format: no colons, safe in every file system.
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

async function main(): Promise<number> {
  const settings = parseSettings(process.argv.slice(2));
  if (settings === undefined) return 0;
  const started = new Date();
  const machine = machineInfo();
  const git = gitDescription();
  log(
    `machine: ${machine.cpuModel}, ${machine.availableParallelism} cores, ${formatSize(machine.totalMemoryBytes)}, ` +
      `node ${machine.node}, OpenSSL ${machine.opensslNode ?? '?'} (CLI: ${machine.opensslCli ?? 'none'}), ` +
      `load ${machine.loadAverage.map((v) => v.toFixed(2)).join(' ')}`,
  );
  if ((machine.loadAverage[0] ?? 0) > 0.5)
    log('warning: the machine is busy (1-minute load average > 0.5): the numbers will be noisy');

  const results: PhaseResult[] = [];
  const failures: { phase: Phase; error: string }[] = [];
  for (const phase of settings.phases) {
    const phaseStart = performance.now();
    try {
      results.push(await runPhase(phase, settings));
      log(`${phase}: done in ${((performance.now() - phaseStart) / 1000).toFixed(0)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${phase}: FAILED: ${message}`);
      failures.push({ phase, error: message });
    }
  }
  const finished = new Date();
  const loadAtEnd = os.loadavg();

  const targets: TargetCheck[] = results.flatMap((r) => r.targets);
  const commandLine = ['npm run bench --', ...process.argv.slice(2)].join(' ');
  const markdown = [
    `## Results of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `\`${commandLine}\` on commit ${git ?? 'unknown'}, ${((finished.getTime() - started.getTime()) / 60_000).toFixed(1)} min` +
      (settings.quick ? ' (--quick)' : ''),
    '',
    machineMarkdown(machine, loadAtEnd),
    '',
    '### Targets',
    '',
    markdownTable(
      ['Target', 'Required', 'Measured', 'Verdict'],
      targets.map((t) => [t.target, t.required, t.measured, verdict(t.pass)]),
    ),
    '',
    ...results.flatMap((r) => [r.markdown, '']),
    ...(failures.length === 0
      ? []
      : [
          '### Phases that failed',
          '',
          ...failures.map((f) => `- ${f.phase}: ${f.error.replace(/\n/g, ' ')}`),
          '',
        ]),
  ].join('\n');

  const resultsDir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = resultStamp(started);
  const jsonFile = path.join(resultsDir, `${stamp}.json`);
  const json = {
    started: started.toISOString(),
    finished: finished.toISOString(),
    commandLine,
    git,
    settings,
    machine: { ...machine, loadAverageAtEnd: loadAtEnd },
    targets,
    phases: Object.fromEntries(results.map((r) => [r.phase, r.data])),
    failures,
  };
  writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, `${stamp}.md`), markdown);
  if (settings.markdownFile !== undefined) writeFileSync(settings.markdownFile, markdown);
  process.stdout.write(markdown);
  log(
    `results: ${path.relative(process.cwd(), jsonFile)} and .md${settings.markdownFile ? `, ${settings.markdownFile}` : ''}`,
  );
  return failures.length === 0 ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping, removing temporary files`);
    cleanupAll();
    process.exit(130);
  });
}
process.on('exit', cleanupAll);

// Exit explicitly: a stray keep-alive socket or timer must not keep a finished benchmark alive.
main().then(
  (code) => {
    cleanupAll();
    process.exit(code);
  },
  (error: unknown) => {
    cleanupAll();
    log(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
