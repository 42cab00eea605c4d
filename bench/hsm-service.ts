/**
 * The key service with its keys in a PKCS#11 token (docs/benchmarks.md "HSM keys"), in one run: the real
 * `dke serve` on a fresh SQLite store twice, once with software keys and once with the same key specs
 * generated in an NSS softoken token (`dke key create --backend pkcs11`, the config's `keys.backends.pkcs11`
 * pointing at it), each driven to saturation by the service phase's load code, its audit log verified after.
 * Then the operator-level rates of bench/hsm.ts for the same specs (no HTTP), to show what the service adds.
 */
import { operatorRates, type Row as OperatorRow } from './hsm.js';
import { createToken, missingToken, type TestToken } from '../test/support/tokens.js';
import { stopServerProcess, type ServerProcess } from '../test/support/server-process.js';
import * as keyService from './service.js';
import type { Saturation, Scenario } from './service.js';
import { atCleanup, log, markdownTable, num, ratio, type PhaseResult } from './util.js';

export interface HsmServiceOptions {
  readonly tmpRoot: string;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly connectionLevels: readonly number[];
  readonly logLevel: string;
}

interface BackendResult {
  readonly backend: 'software' | 'token';
  readonly endpoints: readonly Saturation[];
  readonly audit: { readonly ok: boolean; readonly records: number };
}

const OPERATOR_CONCURRENCY = 8;

const ENDPOINTS: readonly string[] = [
  'MS DKE decrypt (RSA-2048)',
  'native unwrap (RSA-3072)',
  'native unwrap (P-256)',
];

async function measure(
  backend: BackendResult['backend'],
  token: TestToken | undefined,
  options: HsmServiceOptions,
): Promise<BackendResult> {
  const service = await keyService.prepareKeyService(options.tmpRoot, options.logLevel, 'dke.db', {
    pkcs11: token?.config,
    nativeP256: true,
  });
  let server: ServerProcess | undefined;
  try {
    server = await keyService.startBenchServer(service);
    log(`hsm: ${backend} keys, key service on ${server.url}`);
    const scenarios: Scenario[] = [
      (await keyService.msDkeScenarios(server.url, service.token)).decrypt,
      (await keyService.nativeScenarios(server.url, service.token)).unwrap,
      (
        await keyService.nativeScenarios(server.url, service.token, {
          name: keyService.NATIVE_P256_KEY,
          spec: 'P-256',
        })
      ).unwrap,
    ];
    const endpoints: Saturation[] = [];
    for (const scenario of scenarios)
      endpoints.push(await keyService.saturate([keyService.targetOf(server)], scenario, options));
    await stopServerProcess(server);
    const audit = await keyService.verifyAuditLog(service.configFile);
    if (!audit.ok) throw new Error(`hsm: the audit log of the ${backend}-key service does not verify`);
    return { backend, endpoints, audit };
  } catch (error) {
    keyService.explainExit(server);
    throw error;
  } finally {
    if (server !== undefined) await stopServerProcess(server);
    await service.close();
  }
}

export async function runHsmService(options: HsmServiceOptions): Promise<PhaseResult> {
  const missing = missingToken('nss');
  if (missing !== undefined) {
    log(`hsm: skipped, ${missing} (scripts/ensure-tokens.sh installs it)`);
    return {
      phase: 'hsm',
      data: { skipped: missing },
      markdown: `### Key service with HSM keys\n\nSkipped: ${missing} (scripts/ensure-tokens.sh installs it).`,
      targets: [],
    };
  }
  const software = await measure('software', undefined, options);
  const token = createToken('nss');
  const unregister = atCleanup(() => token.remove());
  try {
    const inToken = await measure('token', token, options);
    log(
      `hsm: operator-level rates (bench/hsm.ts), ${options.durationSeconds} s each, ${OPERATOR_CONCURRENCY} in flight`,
    );
    const operators = await operatorRates({
      seconds: options.durationSeconds,
      concurrency: OPERATOR_CONCURRENCY,
      specs: ['RSA-2048', 'RSA-3072', 'P-256'],
      tokens: ['nss'],
    });
    return report(options, software, inToken, operators);
  } finally {
    unregister();
    token.remove();
  }
}

function report(
  options: HsmServiceOptions,
  software: BackendResult,
  token: BackendResult,
  operators: readonly OperatorRow[],
): PhaseResult {
  const rows = ENDPOINTS.map((endpoint, i) => {
    const s = software.endpoints[i];
    const t = token.endpoints[i];
    const tokenShare = ratio(t?.saturationRate, s?.saturationRate);
    return [
      endpoint,
      num(s?.saturationRate, 0),
      num(keyService.bestLevel(s)?.latencyMs.p99, 1),
      num(t?.saturationRate, 0),
      num(keyService.bestLevel(t)?.latencyMs.p99, 1),
      tokenShare === undefined ? '–' : `${num(tokenShare, 3)}`,
    ];
  });
  const summary = markdownTable(
    [
      'Endpoint',
      'software req/s',
      'software p99 ms',
      'NSS token req/s',
      'NSS token p99 ms',
      'token ÷ software',
    ],
    rows,
  );
  const levels = markdownTable(
    ['Keys', 'Endpoint', 'Connections', 'req/s', 'p50 ms', 'p99 ms', 'Errors'],
    [software, token].flatMap((r) =>
      r.endpoints.flatMap((s, i) =>
        s.saturation.map((l) => [
          r.backend === 'software' ? 'software' : 'NSS token',
          ENDPOINTS[i] ?? '',
          String(l.connections),
          num(l.requestsPerSecond, 0),
          num(l.latencyMs.p50, 2),
          num(l.latencyMs.p99, 2),
          String(l.non2xx + l.errors + l.timeouts),
        ]),
      ),
    ),
  );
  const audit = (r: BackendResult): string =>
    `${r.backend}: ${r.audit.records} records, ${r.audit.ok ? 'intact' : 'BROKEN'}`;
  const markdown = [
    `### Key service with HSM keys (${options.durationSeconds} s per level, saturation over ${options.connectionLevels.join('/')} connections)`,
    '',
    summary,
    '',
    'req/s is the best connection level of each endpoint, p99 at that level (closed loop, includes queueing). ' +
      'Same run, same machine, one `dke serve` on a fresh SQLite store each, keys of the same specs: software ' +
      '(node:crypto) vs generated in an NSS softoken token (`dke key create --backend pkcs11`).',
    '',
    '#### Saturation search',
    '',
    levels,
    '',
    `The audit logs after the load (\`dke audit verify\`): ${audit(software)}; ${audit(token)}.`,
    '',
    `#### Operator level (bench/hsm.ts: the private-key step alone, ${OPERATOR_CONCURRENCY} in flight, ${options.durationSeconds} s)`,
    '',
    markdownTable(
      ['Backend', 'Operation', 'per second'],
      operators.map((r) => [
        r.backend,
        r.operation,
        typeof r.perSecond === 'number' ? num(r.perSecond, 0) : r.perSecond,
      ]),
    ),
  ].join('\n');
  return { phase: 'hsm', data: { options, software, token, operators }, markdown, targets: [] };
}
