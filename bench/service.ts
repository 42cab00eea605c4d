/**
 * The key service under load (docs/benchmarks.md "Key service"): the real `dke serve` in a child process on
 * 127.0.0.1 with a fresh SQLite store and durable audit log, real JWTs from the development issuer validated
 * through its JWKS, and autocannon driving MS DKE decrypt, native unwrap and the public-key GETs: first to
 * saturation, then at half that rate for latency. References: `openssl speed rsa2048/rsa3072` and the raw
 * RSA-OAEP-256 decrypt rate of node:crypto.
 */
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { stringify as toYaml } from 'yaml';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/index.js';
import { wrapShare } from '../src/format/share-jwe.js';
import type { Pkcs11Config } from '../src/keystore/backends/index.js';
import { opensslRsa, type RsaSpeed } from './openssl.js';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../test/support/server-process.js';
import {
  cleanEnv,
  dke,
  log,
  machineBusySeconds,
  makeTempDir,
  markdownTable,
  num,
  processCpuSeconds,
  ratio,
  ratioText,
  removeTempDir,
  runOk,
  trackChild,
  type PhaseResult,
  type TargetCheck,
} from './util.js';

export interface ServiceOptions {
  readonly tmpRoot: string;
  /** Seconds of each load phase. */
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** Connection counts tried to find the saturation rate. */
  readonly connectionLevels: readonly number[];
  /** Seconds of each `openssl speed` and raw node:crypto measurement. */
  readonly referenceSeconds: number;
  /** The server's log level (default info, as in production; logs go to /dev/null). */
  readonly logLevel: string;
}

const AUDIENCE = 'api://opendke-bench';
const CLIENT_ID = 'dke-bench';
const USER = 'bench@opendke.invalid';
const MS_KEY = 'bench-msdke';
const NATIVE_KEY = 'bench-native';
/** Made only when asked (`KeyServiceSetup.nativeP256`): the hsm phase compares ECDH too. */
export const NATIVE_P256_KEY = 'bench-native-p256';

/** Where `prepareKeyService` generates its keys: software by default, or a PKCS#11 token (docs/hsm.md). */
export interface KeyServiceSetup {
  /** `keys.backends.pkcs11` of the service config; the keys are then created with `--backend pkcs11`. */
  readonly pkcs11?: Pkcs11Config;
  /** Also a native P-256 key, NATIVE_P256_KEY. */
  readonly nativeP256?: boolean;
}
const P99_TARGET_MS = 10;

// ---- references

export interface RawRsa {
  readonly bits: number;
  /** RSA-OAEP-256 private-key decryptions per second, one thread. */
  readonly perSecond: number;
}

/** privateDecrypt (OAEP, SHA-256) of a 32-byte value in a loop on this thread, for `seconds`. */
export function rawRsaOaepDecrypt(bits: number, seconds: number): RawRsa {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' } as const;
  const ciphertext = publicEncrypt({ key: publicKey, ...oaep }, randomBytes(32));
  const once = (): void => {
    privateDecrypt({ key: privateKey, ...oaep }, ciphertext);
  };
  for (let i = 0; i < 20; i += 1) once();
  let count = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 10; i += 1) once();
    count += 10;
    now = performance.now();
  }
  return { bits, perSecond: count / ((now - started) / 1000) };
}

// ---- load

export interface Scenario {
  readonly id: string;
  readonly label: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface LoadResult {
  readonly connections: number;
  readonly overallRate: number | undefined;
  readonly seconds: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: {
    readonly p50: number | undefined;
    readonly p90: number | undefined;
    readonly p99: number | undefined;
    readonly p99_9: number | undefined;
    readonly max: number | undefined;
  };
  /** CPU used by the server (every instance), % of one core. */
  readonly serverCpuPercent: number | undefined;
  /** CPU used by the database server's processes (PostgreSQL), % of one core. */
  readonly databaseCpuPercent: number | undefined;
  /** CPU used by this process (autocannon and the issuer), % of one core. */
  readonly clientCpuPercent: number;
  /** CPU used on the whole machine, every process (ours and others'), % of one core. */
  readonly machineCpuPercent: number | undefined;
}

function percentile(sorted: Float64Array, q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** One `dke serve` instance: its URL and pid (for its CPU). */
export interface LoadTarget {
  readonly url: string;
  readonly pid: number | undefined;
}

export interface LoadExtras {
  /** Requests per second over all targets (split evenly); default: as fast as they answer. */
  readonly overallRate?: number;
  /** A database server process whose CPU (with its children) is reported too. */
  readonly databasePid?: number;
}

/**
 * `connections` closed-loop connections (or `overallRate`) against `targets` at once: one autocannon per
 * target with an even share of both. Latencies of all are pooled; rates and CPU are summed.
 */
async function load(
  targets: readonly LoadTarget[],
  scenario: Scenario,
  connections: number,
  durationSeconds: number,
  extras: LoadExtras = {},
): Promise<LoadResult> {
  const { overallRate, databasePid } = extras;
  const latencies: number[] = [];
  let non2xx = 0;
  const serverPids = targets.map((t) => t.pid);
  const cpuBefore = process.cpuUsage();
  const serverBefore = processCpuSeconds(serverPids);
  const databaseBefore = processCpuSeconds([databasePid]);
  const machineBefore = machineBusySeconds();
  const started = performance.now();
  const results = await Promise.all(
    targets.map(async (target) => {
      const instance = autocannon({
        url: target.url + scenario.path,
        method: scenario.method,
        headers: scenario.headers,
        ...(scenario.body === undefined ? {} : { body: scenario.body }),
        connections: Math.max(1, Math.round(connections / targets.length)),
        duration: durationSeconds,
        timeout: 10,
        ...(overallRate === undefined ? {} : { overallRate: overallRate / targets.length }),
      });
      instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
        if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
        else non2xx += 1;
      });
      // autocannon stops itself after `duration`; this only bounds a hung run.
      const guard = setTimeout(() => instance.stop(), (durationSeconds + 30) * 1000);
      try {
        return await instance;
      } finally {
        clearTimeout(guard);
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const percentOfWall = (before: number | undefined, after: number | undefined): number | undefined =>
    before === undefined || after === undefined ? undefined : ((after - before) / wall) * 100;
  const sorted = Float64Array.from(latencies).sort();
  const longest = Math.max(...results.map((r) => r.duration));
  const seconds = longest > 0 ? longest : wall;
  return {
    connections,
    overallRate,
    seconds,
    ok: latencies.length,
    non2xx,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    requestsPerSecond: latencies.length / seconds,
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      p99_9: percentile(sorted, 0.999),
      max: sorted.length === 0 ? undefined : sorted[sorted.length - 1],
    },
    serverCpuPercent: percentOfWall(serverBefore, processCpuSeconds(serverPids)),
    databaseCpuPercent: percentOfWall(databaseBefore, processCpuSeconds([databasePid])),
    clientCpuPercent: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
    machineCpuPercent: percentOfWall(machineBefore, machineBusySeconds()),
  };
}

function describeLoad(r: LoadResult): string {
  return (
    `${num(r.requestsPerSecond, 0)} req/s, p50 ${num(r.latencyMs.p50, 2)} ms, p99 ${num(r.latencyMs.p99, 2)} ms` +
    `, server CPU ${num(r.serverCpuPercent, 0)}%` +
    (r.databaseCpuPercent === undefined ? '' : `, PostgreSQL CPU ${num(r.databaseCpuPercent, 0)}%`) +
    `${r.non2xx + r.errors > 0 ? `, ${r.non2xx} non-2xx, ${r.errors} errors` : ''}`
  );
}

export interface Saturation {
  readonly saturation: readonly LoadResult[];
  /** The best requests/s of the connection levels. */
  readonly saturationRate: number;
}

/** The connection level that reached `saturationRate` (its latencies go with that rate). */
export function bestLevel(s: Saturation | undefined): LoadResult | undefined {
  return s?.saturation.find((r) => r.requestsPerSecond === s.saturationRate);
}

export interface ScenarioResult extends Saturation {
  readonly id: string;
  readonly label: string;
  readonly halfRateTarget: number;
  /** Every attempt at half rate (fewest connections first); the last is reported. */
  readonly halfRate: readonly LoadResult[];
}

/**
 * autocannon's rate limit hands each connection its share at the start of every second, so the number of
 * connections is the size of that burst. The half-rate phase therefore uses the fewest connections that still
 * reach 95 % of the target rate, so queueing behind the burst inflates the latency as little as possible.
 */
const HALF_RATE_CONNECTIONS = [2, 4, 8, 16, 32] as const;

/**
 * Waits until every target has answered one more request of `scenario`. When autocannon stops, the requests
 * it abandoned are still queued in the service (for the private-key operation: in the key backend's pool,
 * first come first served), so the answer to this one comes after theirs. Without it a slow backend (keys in
 * a token) would carry one level's backlog into the next level's measurement.
 */
async function drain(targets: readonly LoadTarget[], scenario: Scenario): Promise<void> {
  const started = performance.now();
  await Promise.all(
    targets.map(async (target) => {
      const response = await fetch(target.url + scenario.path, {
        method: scenario.method,
        headers: scenario.headers,
        ...(scenario.body === undefined ? {} : { body: scenario.body }),
        signal: AbortSignal.timeout(600_000),
      });
      await response.arrayBuffer();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (seconds >= 1) log(`  drained the previous load's queue in ${seconds.toFixed(1)} s`);
}

/** A warm-up, then `durationSeconds` closed-loop at each connection level, each after a drained queue. */
export async function saturate(
  targets: readonly LoadTarget[],
  scenario: Scenario,
  options: Pick<ServiceOptions, 'warmupSeconds' | 'durationSeconds' | 'connectionLevels'>,
  databasePid?: number,
): Promise<Saturation> {
  log(`${scenario.label}: warm-up ${options.warmupSeconds} s`);
  await load(targets, scenario, options.connectionLevels[0] ?? 8, options.warmupSeconds);
  const saturation: LoadResult[] = [];
  for (const connections of options.connectionLevels) {
    await drain(targets, scenario);
    const result = await load(targets, scenario, connections, options.durationSeconds, { databasePid });
    log(`  ${connections} connections: ${describeLoad(result)}`);
    saturation.push(result);
  }
  await drain(targets, scenario);
  return { saturation, saturationRate: Math.max(...saturation.map((r) => r.requestsPerSecond)) };
}

async function runScenario(
  target: LoadTarget,
  scenario: Scenario,
  options: ServiceOptions,
): Promise<ScenarioResult> {
  const { saturation, saturationRate } = await saturate([target], scenario, options);
  const halfRateTarget = Math.max(1, Math.floor(saturationRate / 2));
  const halfRate: LoadResult[] = [];
  const maxConnections = Math.max(...options.connectionLevels);
  for (const connections of HALF_RATE_CONNECTIONS.filter((c) => c <= maxConnections)) {
    const result = await load([target], scenario, connections, options.durationSeconds, {
      overallRate: halfRateTarget,
    });
    log(`  at ${halfRateTarget} req/s (50%), ${connections} connections: ${describeLoad(result)}`);
    halfRate.push(result);
    if (result.requestsPerSecond >= 0.95 * halfRateTarget) break;
  }
  return { id: scenario.id, label: scenario.label, saturation, saturationRate, halfRateTarget, halfRate };
}

// ---- setup

async function clientToken(issuer: DevIssuer, secret: string): Promise<string> {
  const response = await fetch(issuer.tokenEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE }).toString(),
  });
  const body = (await response.json()) as { access_token?: unknown };
  if (!response.ok || typeof body.access_token !== 'string')
    throw new Error(`the development issuer refused the client-credentials grant (${response.status})`);
  return body.access_token;
}

async function getJson(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

function exponentToB64url(e: number): string {
  const bytes: number[] = [];
  for (let v = e; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes).toString('base64url');
}

/** MS DKE: the published key, a 32-byte value encrypted to it, and the decrypt request. */
export async function msDkeScenarios(
  baseUrl: string,
  token: string,
): Promise<{ decrypt: Scenario; get: Scenario }> {
  const published = await getJson(`${baseUrl}/${MS_KEY}`);
  const key = published.key as { n: string; e: number; kid: string };
  const keyId = key.kid.split('/').pop() ?? '';
  const publicKey = createPublicKey({
    key: { kty: 'RSA', n: Buffer.from(key.n, 'base64').toString('base64url'), e: exponentToB64url(key.e) },
    format: 'jwk',
  });
  const secret = randomBytes(32);
  const value = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    secret,
  ).toString('base64');
  const decrypt: Scenario = {
    id: 'ms-dke-decrypt',
    label: 'MS DKE decrypt (RSA-2048, POST /{key}/{keyId}/decrypt)',
    method: 'POST',
    path: `/${MS_KEY}/${keyId}/decrypt`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ alg: 'RSA-OAEP-256', value }),
  };
  const answer = await getJson(baseUrl + decrypt.path, {
    method: 'POST',
    headers: decrypt.headers,
    body: decrypt.body ?? '',
  });
  if (answer.value !== secret.toString('base64')) throw new Error('MS DKE decrypt returned a wrong value');
  return {
    decrypt,
    get: {
      id: 'ms-dke-get',
      label: 'MS DKE public key (GET /{key})',
      method: 'GET',
      path: `/${MS_KEY}`,
      headers: {},
    },
  };
}

/** Native: the published key, a share wrapped to it as a JWE stanza, and the unwrap request. */
export async function nativeScenarios(
  baseUrl: string,
  token: string,
  key: { readonly name: string; readonly spec: string } = { name: NATIVE_KEY, spec: 'RSA-3072' },
): Promise<{ unwrap: Scenario; get: Scenario }> {
  const published = await getJson(`${baseUrl}/keys/${key.name}`);
  const publicKey: KeyObject = createPublicKey({
    key: published.jwk as Record<string, string> & { kty: string },
    format: 'jwk',
  });
  const share = randomBytes(32);
  const stanza = await wrapShare(share, publicKey, {
    objectId: randomBytes(16),
    keyId: String(published.keyId),
  });
  const unwrap: Scenario = {
    id: key.name === NATIVE_KEY ? 'native-unwrap' : `native-unwrap-${key.spec}`,
    label: `native unwrap (${key.spec}, POST /keys/{name}/unwrap)`,
    method: 'POST',
    path: `/keys/${key.name}/unwrap`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ stanza }),
  };
  const answer = await getJson(baseUrl + unwrap.path, {
    method: 'POST',
    headers: unwrap.headers,
    body: unwrap.body ?? '',
  });
  if (answer.share !== share.toString('base64url')) throw new Error('native unwrap returned a wrong share');
  return {
    unwrap,
    get: {
      id: 'native-get',
      label: 'native public key (GET /keys/{name})',
      method: 'GET',
      path: `/keys/${key.name}`,
      headers: {},
    },
  };
}

interface References {
  readonly cores: number;
  readonly rsa2048: RsaSpeed | undefined;
  readonly rsa2048Multi: RsaSpeed | undefined;
  readonly rsa3072: RsaSpeed | undefined;
  readonly rsa3072Multi: RsaSpeed | undefined;
  readonly node2048: RawRsa;
  readonly node3072: RawRsa;
}

async function references(seconds: number): Promise<References> {
  const cores = os.availableParallelism();
  log(`references: openssl speed rsa2048/rsa3072 (${seconds} s, 1 and ${cores} processes), node:crypto OAEP`);
  const rsa2048 = await opensslRsa(2048, seconds);
  const rsa2048Multi = cores > 1 ? await opensslRsa(2048, seconds, cores) : undefined;
  const rsa3072 = await opensslRsa(3072, seconds);
  const rsa3072Multi = cores > 1 ? await opensslRsa(3072, seconds, cores) : undefined;
  const node2048 = rawRsaOaepDecrypt(2048, seconds);
  const node3072 = rawRsaOaepDecrypt(3072, seconds);
  log(
    `  openssl rsa2048 sign/s ${num(rsa2048?.signPerSecond, 0)} (×${cores}: ${num(rsa2048Multi?.signPerSecond, 0)}), ` +
      `node RSA-2048 OAEP decrypt/s ${num(node2048.perSecond, 0)}, RSA-3072 ${num(node3072.perSecond, 0)}`,
  );
  return { cores, rsa2048, rsa2048Multi, rsa3072, rsa3072Multi, node2048, node3072 };
}

/** A development issuer, a config in a temporary `dir` for `database`, and the two benchmark keys with their policies. */
export interface BenchKeyService {
  readonly dir: string;
  readonly issuer: DevIssuer;
  readonly configFile: string;
  readonly config: Record<string, unknown>;
  /** A client-credentials token that the keys' policies allow. */
  readonly token: string;
  /** Stops the issuer and removes `dir` (stop the servers first). */
  close(): Promise<void>;
}

export async function prepareKeyService(
  tmpRoot: string,
  logLevel: string,
  database = 'dke.db',
  setup: KeyServiceSetup = {},
): Promise<BenchKeyService> {
  const dir = makeTempDir(tmpRoot, 'dke-bench-service-');
  const secret = randomBytes(24).toString('base64url');
  let issuer: DevIssuer | undefined;
  const close = async (): Promise<void> => {
    await issuer?.close();
    removeTempDir(dir);
  };
  try {
    issuer = await startDevIssuer({
      defaultAudience: AUDIENCE,
      clients: [{ clientId: CLIENT_ID, clientSecret: secret, claims: { upn: USER } }],
    });
    const configFile = path.join(dir, 'dke.yaml');
    const config = {
      server: { host: '127.0.0.1', port: 0 },
      store: { database, masterKeyFile: 'master.key' },
      auth: {
        audience: AUDIENCE,
        issuers: [{ issuer: issuer.issuer, algorithms: [issuer.alg], userNameClaims: ['upn'] }],
      },
      logging: { level: logLevel },
      ...(setup.pkcs11 === undefined ? {} : { keys: { backends: { pkcs11: setup.pkcs11 } } }),
    };
    writeFileSync(configFile, toYaml(config));
    const cli = (args: string[]): Promise<unknown> =>
      runOk(dke([...args, '-c', configFile]), { timeoutMs: 60_000 });
    const backend = setup.pkcs11 === undefined ? [] : ['--backend', 'pkcs11'];
    const keys: [string, string, string][] = [
      [MS_KEY, 'ms-dke', 'RSA-2048'],
      [NATIVE_KEY, 'native', 'RSA-3072'],
      ...(setup.nativeP256 === true
        ? [[NATIVE_P256_KEY, 'native', 'P-256'] as [string, string, string]]
        : []),
    ];
    for (const [name, protocol, spec] of keys) {
      await cli(['key', 'create', name, '--protocol', protocol, '--spec', spec, ...backend]);
      await cli(['key', 'policy', name, '--users', USER]);
    }
    return { dir, issuer, configFile, config, token: await clientToken(issuer, secret), close };
  } catch (error) {
    await close();
    throw error;
  }
}

export function startBenchServer(service: BenchKeyService): Promise<ServerProcess> {
  return startServerProcess(service.configFile, { cwd: service.dir, env: cleanEnv(), track: trackChild });
}

/** `dke audit verify -c <config> --json` (the servers stopped), as an operator runs it. */
export async function verifyAuditLog(configFile: string): Promise<{ ok: boolean; records: number }> {
  const verify = await runOk(dke(['audit', 'verify', '-c', configFile, '--json']), {
    timeoutMs: 120_000,
    captureStdout: true,
  });
  const audit = JSON.parse(verify.stdout) as { ok?: boolean; records?: number };
  log(
    `audit log after the load: ${String(audit.records)} records, chain ${audit.ok === true ? 'intact' : 'BROKEN'}`,
  );
  return { ok: audit.ok === true, records: audit.records ?? 0 };
}

export function targetOf(server: ServerProcess): LoadTarget {
  return { url: server.url, pid: server.child.pid };
}

/** Logs the end of a key service's stderr when it exited early (before a failure is reported). */
export function explainExit(server: ServerProcess | undefined): void {
  if (server !== undefined && server.child.exitCode !== null) {
    log(`the key service exited (${String(server.child.exitCode)}); its stderr:\n${server.stderrTail()}`);
  }
}

/** The four endpoints of one running service, in report order. */
async function serviceScenarios(url: string, token: string): Promise<Scenario[]> {
  const ms = await msDkeScenarios(url, token);
  const native = await nativeScenarios(url, token);
  return [ms.decrypt, native.unwrap, native.get, ms.get];
}

/** The id and label of a scenario run with `server.workers` = `workers` (1 keeps the plain id). */
export function withWorkers(scenario: Scenario, workers: number): Scenario {
  if (workers === 1) return scenario;
  return { ...scenario, id: `${scenario.id}@${workers}w`, label: `${scenario.label}, ${workers} workers` };
}

export async function runService(options: ServiceOptions): Promise<PhaseResult> {
  const refs = await references(options.referenceSeconds);
  let service: BenchKeyService | undefined;
  let server: ServerProcess | undefined;
  try {
    service = await prepareKeyService(options.tmpRoot, options.logLevel);
    const bench = service;
    const restart = async (overrides: Record<string, unknown>): Promise<ServerProcess> => {
      if (server !== undefined) await stopServerProcess(server);
      server = undefined;
      const config = bench.config as { server: Record<string, unknown> };
      writeFileSync(
        bench.configFile,
        toYaml({ ...config, ...overrides, server: { ...config.server, ...(overrides.server ?? {}) } }),
      );
      server = await startBenchServer(bench);
      log(`key service (pid ${server.child.pid ?? '?'}) on ${server.url}, issuer ${bench.issuer.issuer}`);
      return server;
    };

    // server.workers = 1 (one event loop), then = cores (one process per core, src/service/cluster).
    const results: ScenarioResult[] = [];
    const workerCounts = refs.cores > 1 ? [1, refs.cores] : [1];
    for (const workers of workerCounts) {
      const running = await restart({ server: { workers } });
      for (const scenario of await serviceScenarios(running.url, bench.token)) {
        results.push(await runScenario(targetOf(running), withWorkers(scenario, workers), options));
      }
    }

    // Receipts (docs/audit.md) cost a checkpoint signature per group commit and two tree reads per unwrap:
    // the same native unwrap load once more with `audit.log.receipts: false` (one worker), for the ratio.
    const plainServer = await restart({ server: { workers: 1 }, audit: { log: { receipts: false } } });
    const plain = await nativeScenarios(plainServer.url, bench.token);
    const withReceipts = results.find((r) => r.id === 'native-unwrap');
    const withoutReceipts = await runScenario(
      targetOf(plainServer),
      { ...plain.unwrap, id: 'native-unwrap-no-receipts', label: `${plain.unwrap.label}, receipts off` },
      options,
    );
    results.push(withoutReceipts);
    log(
      `native unwrap/s with receipts ÷ without: ${num(withReceipts?.saturationRate, 0)} ÷ ${num(withoutReceipts.saturationRate, 0)} = ` +
        `${num(((withReceipts?.saturationRate ?? 0) / withoutReceipts.saturationRate) * 100, 1)}%`,
    );

    await stopServerProcess(plainServer);
    server = undefined;
    return report(options, refs, results, await verifyAuditLog(bench.configFile));
  } catch (error) {
    explainExit(server);
    throw error;
  } finally {
    if (server !== undefined) await stopServerProcess(server);
    await service?.close();
  }
}

// ---- report

/** One scenario with `server.workers` 1 and = cores, and the one with the higher saturation rate. */
interface Configurations {
  readonly one: ScenarioResult | undefined;
  readonly many: ScenarioResult | undefined;
  readonly best: ScenarioResult | undefined;
  readonly bestWorkers: number;
}

function report(
  options: ServiceOptions,
  refs: References,
  results: readonly ScenarioResult[],
  audit: { ok: boolean; records: number },
): PhaseResult {
  const ms = (value: number | undefined): string => num(value, 2);
  const pct = (value: number | undefined): string => (value === undefined ? '–' : `${num(value, 0)}%`);
  const errors = (r: LoadResult): string => String(r.non2xx + r.errors + r.timeouts);
  const summary = markdownTable(
    [
      'Endpoint',
      'Saturation req/s',
      '50% target req/s',
      'Achieved req/s',
      'Connections',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'Server CPU',
      'Errors',
    ],
    results.map((s) => {
      const half = s.halfRate[s.halfRate.length - 1];
      return [
        s.label,
        num(s.saturationRate, 0),
        String(s.halfRateTarget),
        num(half?.requestsPerSecond, 0),
        String(half?.connections ?? '–'),
        ms(half?.latencyMs.p50),
        ms(half?.latencyMs.p99),
        ms(half?.latencyMs.p99_9),
        pct(half?.serverCpuPercent),
        half === undefined ? '–' : errors(half),
      ];
    }),
  );
  const saturation = markdownTable(
    [
      'Endpoint',
      'Connections',
      'req/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'Server CPU',
      'Load generator CPU',
      'Errors',
    ],
    results.flatMap((s) =>
      s.saturation.map((r) => [
        s.label,
        String(r.connections),
        num(r.requestsPerSecond, 0),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p99),
        ms(r.latencyMs.p99_9),
        pct(r.serverCpuPercent),
        pct(r.clientCpuPercent),
        errors(r),
      ]),
    ),
  );
  const n = refs.cores;
  const referenceTable = markdownTable(
    ['Reference', 'ops/s'],
    [
      [refs.rsa2048?.command ?? 'openssl speed rsa2048 (not installed)', num(refs.rsa2048?.signPerSecond, 0)],
      [
        refs.rsa2048Multi?.command ?? 'openssl speed -multi (skipped)',
        num(refs.rsa2048Multi?.signPerSecond, 0),
      ],
      [refs.rsa3072?.command ?? 'openssl speed rsa3072 (not installed)', num(refs.rsa3072?.signPerSecond, 0)],
      [
        refs.rsa3072Multi?.command ?? 'openssl speed -multi (skipped)',
        num(refs.rsa3072Multi?.signPerSecond, 0),
      ],
      ['node:crypto RSA-2048 OAEP-256 privateDecrypt, 1 thread', num(refs.node2048.perSecond, 0)],
      [`node:crypto RSA-2048 OAEP-256 privateDecrypt, ×${n} cores`, num(refs.node2048.perSecond * n, 0)],
      ['node:crypto RSA-3072 OAEP-256 privateDecrypt, 1 thread', num(refs.node3072.perSecond, 0)],
      [`node:crypto RSA-3072 OAEP-256 privateDecrypt, ×${n} cores`, num(refs.node3072.perSecond * n, 0)],
    ],
  );
  const byId = (id: string): ScenarioResult | undefined => results.find((s) => s.id === id);
  /** The scenario with one worker and with one per core; `best` has the higher saturation rate. */
  const configurations = (id: string): Configurations => {
    const one = byId(id);
    const many = n > 1 ? byId(`${id}@${n}w`) : undefined;
    const best = (many?.saturationRate ?? -1) > (one?.saturationRate ?? -1) ? many : one;
    return { one, many, best, bestWorkers: best === many && many !== undefined ? n : 1 };
  };
  const msConfigs = configurations('ms-dke-decrypt');
  const unwrapConfigs = configurations('native-unwrap');
  const msDecrypt = msConfigs.best;
  const unwrap = unwrapConfigs.best;
  const msRatio = ratio(msDecrypt?.saturationRate, refs.rsa2048Multi?.signPerSecond);
  const unwrapRatio = ratio(unwrap?.saturationRate, refs.node3072.perSecond * n);
  const perConfiguration = (c: Configurations, reference: number | undefined): string =>
    `${ratioText(ratio(c.best?.saturationRate, reference))} (${c.bestWorkers} worker${c.bestWorkers === 1 ? '' : 's'}; ` +
    `1 worker: ${ratioText(ratio(c.one?.saturationRate, reference))}` +
    (n > 1 ? `, ${n} workers: ${ratioText(ratio(c.many?.saturationRate, reference))})` : ')');
  const ratioTable = markdownTable(
    ['Ratio', 'Value'],
    [
      [
        `MS DKE decrypt/s ÷ openssl speed -multi ${n} rsa2048 sign/s, best of server.workers 1 and ${n}`,
        perConfiguration(msConfigs, refs.rsa2048Multi?.signPerSecond),
      ],
      [
        'MS DKE decrypt/s (best) ÷ openssl speed rsa2048 sign/s (1 core)',
        ratioText(ratio(msDecrypt?.saturationRate, refs.rsa2048?.signPerSecond)),
      ],
      [
        `MS DKE decrypt/s (best) ÷ node RSA-2048 OAEP decrypt/s ×${n}`,
        ratioText(ratio(msDecrypt?.saturationRate, refs.node2048.perSecond * n)),
      ],
      [
        `native unwrap/s ÷ node RSA-3072 OAEP decrypt/s ×${n}, best of server.workers 1 and ${n}`,
        perConfiguration(unwrapConfigs, refs.node3072.perSecond * n),
      ],
      [
        'native unwrap/s (best) ÷ node RSA-3072 OAEP decrypt/s (1 thread)',
        ratioText(ratio(unwrap?.saturationRate, refs.node3072.perSecond)),
      ],
      [
        `native unwrap/s (best) ÷ openssl speed -multi ${n} rsa3072 sign/s`,
        ratioText(ratio(unwrap?.saturationRate, refs.rsa3072Multi?.signPerSecond)),
      ],
    ],
  );
  const msHalf = msDecrypt?.halfRate[msDecrypt.halfRate.length - 1];
  const targets: TargetCheck[] = [
    {
      target: `MS DKE decrypts/s ÷ openssl speed -multi ${n} rsa2048 sign/s`,
      required: '≥ 0.7×',
      measured: perConfiguration(msConfigs, refs.rsa2048Multi?.signPerSecond),
      pass: msRatio === undefined ? undefined : msRatio >= 0.7,
    },
    {
      target: `MS DKE decrypt p99 at 50% of saturation (server.workers ${msConfigs.bestWorkers}, the best rate)`,
      required: `≤ ${P99_TARGET_MS} ms`,
      measured: msHalf?.latencyMs.p99 === undefined ? '–' : `${ms(msHalf.latencyMs.p99)} ms`,
      pass: msHalf?.latencyMs.p99 === undefined ? undefined : msHalf.latencyMs.p99 <= P99_TARGET_MS,
    },
    {
      target: `native unwrap/s ÷ raw RSA-3072 OAEP-256 decrypt/s on ${n} cores`,
      required: '≥ 0.5×',
      measured: perConfiguration(unwrapConfigs, refs.node3072.perSecond * n),
      pass: unwrapRatio === undefined ? undefined : unwrapRatio >= 0.5,
    },
  ];
  const markdown = [
    `### Key service under load (${options.durationSeconds} s per phase, saturation over ${options.connectionLevels.join('/')} connections)`,
    '',
    summary,
    '',
    'Rows without "workers" ran with `server.workers: 1` (one process); rows ending in ", N workers" with ' +
      '`server.workers` = the cores (a cluster primary and N worker processes sharing the port). ' +
      'Ratios marked "best" use the configuration with the higher saturation rate, named in the first rows. ' +
      'Saturation req/s is the best of the connection levels below. The 50% columns are a run with autocannon ' +
      '`overallRate` at half that rate, with the fewest connections (2, 4, 8, ...) that reach 95% of it ' +
      "(autocannon releases each connection's quota at the start of every second, so the connection count is the burst size). " +
      'Latency is per request, measured by autocannon from write to full response. ' +
      `The audit log held ${audit.records} records after the run, chain ${audit.ok ? 'intact' : 'BROKEN'}.`,
    '',
    '#### Saturation search',
    '',
    saturation,
    '',
    '#### References',
    '',
    referenceTable,
    '',
    ratioTable,
  ].join('\n');
  return {
    phase: 'service',
    data: { options, references: refs, scenarios: results, audit },
    markdown,
    targets,
  };
}
