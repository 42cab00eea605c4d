/**
 * The key service on PostgreSQL (docs/benchmarks.md, "Key service on PostgreSQL"), in one run: a throwaway
 * PostgreSQL cluster (test/support/postgres.ts), then for SQLite with one `dke serve`, PostgreSQL with one
 * and PostgreSQL with two instances on one database: MS DKE decrypt and native unwrap at saturation (the
 * service phase's load code; two instances get one autocannon each, connections split, rates summed), and
 * audit appends/s straight on the store from as many processes as instances, each log verified afterwards.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isPostgresUrl } from '../src/store/index.js';
import { createTestDatabase, TestCluster } from '../test/support/postgres.js';
import { stopServerProcess, type ServerProcess } from '../test/support/server-process.js';
import { APPEND_CONCURRENCY, appendFromProcesses, type Appends } from './audit-append.js';
import {
  bestLevel,
  explainExit,
  msDkeScenarios,
  nativeScenarios,
  prepareKeyService,
  saturate,
  startBenchServer,
  targetOf,
  verifyAuditLog,
  type LoadResult,
  type Saturation,
} from './service.js';
import { atCleanup, log, markdownTable, num, ratio, ratioText, REPO_ROOT, type PhaseResult } from './util.js';

export interface StoresOptions {
  readonly tmpRoot: string;
  /** Seconds of each load phase and of each audit append run. */
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly connectionLevels: readonly number[];
  readonly logLevel: string;
}

const CLUSTER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'postgres-test-cluster.sh');

interface Configuration {
  readonly id: string;
  readonly label: string;
  readonly postgres: boolean;
  /** `dke serve` instances under load, and processes appending to the audit log. */
  readonly instances: number;
}

const CONFIGURATIONS: readonly Configuration[] = [
  { id: 'sqlite-1', label: 'SQLite, 1 instance', postgres: false, instances: 1 },
  { id: 'postgres-1', label: 'PostgreSQL, 1 instance', postgres: true, instances: 1 },
  { id: 'postgres-2', label: 'PostgreSQL, 2 instances', postgres: true, instances: 2 },
];

interface ConfigurationResult {
  readonly configuration: Configuration;
  readonly msDecrypt: Saturation;
  readonly nativeUnwrap: Saturation;
  /** `dke audit verify` of the service's own log after the load. */
  readonly serviceAudit: { readonly ok: boolean; readonly records: number };
  readonly appends: Appends;
}

/**
 * MS DKE decrypt and native unwrap at saturation on `instances` `dke serve` processes sharing
 * `databases.service`, then audit appends from as many processes to the fresh log of `databases.appends`
 * (SQLite file names are in the service's temporary directory).
 */
async function measure(
  configuration: Configuration,
  databases: { readonly service: string; readonly appends: string },
  options: StoresOptions,
  databasePid: number | undefined,
): Promise<ConfigurationResult> {
  const service = await prepareKeyService(options.tmpRoot, options.logLevel, databases.service);
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < configuration.instances; i += 1) servers.push(await startBenchServer(service));
    log(`${configuration.label}: key service on ${servers.map((s) => s.url).join(' and ')}`);
    const url = servers[0]?.url ?? '';
    const ms = await msDkeScenarios(url, service.token);
    const native = await nativeScenarios(url, service.token);
    const targets = servers.map(targetOf);
    const msDecrypt = await saturate(targets, ms.decrypt, options, databasePid);
    const nativeUnwrap = await saturate(targets, native.unwrap, options, databasePid);
    await Promise.all(servers.map((s) => stopServerProcess(s)));
    const serviceAudit = await verifyAuditLog(service.configFile);
    log(
      `${configuration.label}: audit appends, ${configuration.instances} process(es) × ${APPEND_CONCURRENCY} in flight`,
    );
    const appends = await appendFromProcesses(
      isPostgresUrl(databases.appends) ? databases.appends : path.join(service.dir, databases.appends),
      configuration.instances,
      options.durationSeconds,
      databasePid,
    );
    return { configuration, msDecrypt, nativeUnwrap, serviceAudit, appends };
  } catch (error) {
    servers.forEach(explainExit);
    throw error;
  } finally {
    await Promise.all(servers.map((s) => stopServerProcess(s)));
    await service.close();
  }
}

function skipped(reason: string): PhaseResult {
  return {
    phase: 'stores',
    data: { skipped: reason },
    markdown: `### Key service on PostgreSQL\n\nSkipped: the throwaway PostgreSQL cluster did not start (${reason}).`,
    targets: [],
  };
}

export async function runStores(options: StoresOptions): Promise<PhaseResult> {
  log('stores: starting a throwaway PostgreSQL cluster (scripts/postgres-test-cluster.sh)');
  let cluster: TestCluster;
  try {
    cluster = await TestCluster.start();
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error))
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ');
    log(`stores: skipped, PostgreSQL did not start: ${reason}`);
    return skipped(reason);
  }
  const unregister = atCleanup(() =>
    spawnSync('sh', [CLUSTER_SCRIPT, 'stop', cluster.dir], { timeout: 60_000 }),
  );
  try {
    const postmasterPid = Number(
      readFileSync(path.join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    const results: ConfigurationResult[] = [];
    for (const c of CONFIGURATIONS) {
      const fresh = async (sqliteFile: string): Promise<string> =>
        c.postgres ? (await createTestDatabase(cluster.url)).url : sqliteFile;
      const databases = { service: await fresh('dke.db'), appends: await fresh('appends.db') };
      results.push(await measure(c, databases, options, c.postgres ? postmasterPid : undefined));
    }
    return report(options, results);
  } finally {
    unregister();
    await cluster.stop();
  }
}

// ---- report

function report(options: StoresOptions, results: readonly ConfigurationResult[]): PhaseResult {
  const base = results[0];
  const rate = (value: number | undefined, baseValue: number | undefined): [string, string] => [
    num(value, 0),
    ratioText(ratio(value, baseValue)),
  ];
  const p50p99 = (r: LoadResult | undefined): string =>
    `${num(r?.latencyMs.p50, 1)} / ${num(r?.latencyMs.p99, 1)}`;
  const pct = (value: number | undefined): string => (value === undefined ? '–' : `${num(value, 0)}%`);
  const summary = markdownTable(
    [
      'Configuration',
      'MS DKE decrypt/s',
      '÷ SQLite',
      'p50 / p99 ms',
      'native unwrap/s',
      '÷ SQLite',
      'p50 / p99 ms',
      'audit appends/s',
      '÷ SQLite',
    ],
    results.map((r) => [
      r.configuration.label,
      ...rate(r.msDecrypt.saturationRate, base?.msDecrypt.saturationRate),
      p50p99(bestLevel(r.msDecrypt)),
      ...rate(r.nativeUnwrap.saturationRate, base?.nativeUnwrap.saturationRate),
      p50p99(bestLevel(r.nativeUnwrap)),
      ...rate(r.appends.perSecond, base?.appends.perSecond),
    ]),
  );
  const others = (machine: number | undefined, ours: readonly (number | undefined)[]): string =>
    machine === undefined ? '–' : pct(ours.reduce<number>((rest, v) => rest - (v ?? 0), machine));
  const levels = markdownTable(
    [
      'Configuration',
      'Endpoint',
      'Connections',
      'req/s',
      'p50 ms',
      'p99 ms',
      'dke serve CPU',
      'PostgreSQL CPU',
      'Load generator CPU',
      'Other processes CPU',
      'CPU ms per request (serve + PostgreSQL)',
      'Errors',
    ],
    results.flatMap((r) =>
      (
        [
          ['MS DKE decrypt', r.msDecrypt],
          ['native unwrap', r.nativeUnwrap],
        ] as const
      ).flatMap(([endpoint, s]) =>
        s.saturation.map((l) => [
          r.configuration.label,
          endpoint,
          String(l.connections),
          num(l.requestsPerSecond, 0),
          num(l.latencyMs.p50, 2),
          num(l.latencyMs.p99, 2),
          pct(l.serverCpuPercent),
          pct(l.databaseCpuPercent),
          pct(l.clientCpuPercent),
          others(l.machineCpuPercent, [l.serverCpuPercent, l.databaseCpuPercent, l.clientCpuPercent]),
          num((((l.serverCpuPercent ?? NaN) + (l.databaseCpuPercent ?? 0)) * 10) / l.requestsPerSecond, 2),
          String(l.non2xx + l.errors + l.timeouts),
        ]),
      ),
    ),
  );
  const appends = markdownTable(
    [
      'Configuration',
      'Processes',
      'appends/s',
      'Appender CPU',
      'PostgreSQL CPU',
      'Other processes CPU',
      'Log afterwards',
    ],
    results.map(({ configuration, appends: a }) => [
      configuration.label,
      String(a.runs.length),
      `${num(a.perSecond, 0)} (${a.runs.map((run) => num(run.appends / run.seconds, 0)).join(' + ')})`,
      a.runs.map((run) => pct(run.cpuPercent)).join(' + '),
      pct(a.databaseCpuPercent),
      others(a.machineCpuPercent, [a.databaseCpuPercent, ...a.runs.map((run) => run.cpuPercent)]),
      `${a.records} records, ${a.ok ? 'verified (one chain, every append once)' : 'BROKEN'}`,
    ]),
  );
  const serviceLogs = results
    .map(
      (r) =>
        `${r.configuration.label}: ${r.serviceAudit.records} records, ${r.serviceAudit.ok ? 'intact' : 'BROKEN'}`,
    )
    .join('; ');
  const cores = os.availableParallelism();
  const note =
    'Requests/s are the best connection level of each endpoint (with 2 instances: one autocannon per instance, ' +
    'half the connections each, rates summed); p50 / p99 are at that level, closed loop, so they include queueing. ' +
    `Audit appends/s: StoreAuditLog.append straight on the store, ${APPEND_CONCURRENCY} appends in flight per process ` +
    `for ${options.durationSeconds} s, one process per instance, all on one log. ` +
    `Everything shares this machine's ${cores} cores (${cores * 100}% in the CPU columns, % of one core): ` +
    'the load generator (this process), the `dke serve` instances and PostgreSQL; "other processes" is the rest ' +
    "of the machine's busy time (from /proc/stat), i.e. anything else that ran meanwhile.";
  const markdown = [
    `### Key service on PostgreSQL (${options.durationSeconds} s per phase, saturation over ${options.connectionLevels.join('/')} connections)`,
    '',
    summary,
    '',
    note,
    '',
    '#### Saturation search',
    '',
    levels,
    '',
    '#### Audit appends',
    '',
    appends,
    '',
    `The services' own audit logs after the load (\`dke audit verify\`): ${serviceLogs}.`,
  ].join('\n');
  return {
    phase: 'stores',
    data: { options, appendConcurrency: APPEND_CONCURRENCY, configurations: results },
    markdown,
    targets: [],
  };
}
