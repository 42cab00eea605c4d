/**
 * `startServer(config)`: opens the key store, audit log and authenticator the config names, builds the
 * app and listens. `dke serve` is this plus signal handling.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import { DkeError } from '../errors/index.js';
import { createAuthenticator, isLoopbackIp, type AuthConfig } from '../auth/index.js';
import { loadMasterKey, openKeyServiceAt, type KeyService, type LoadedMasterKey } from '../keystore/index.js';
import { SqliteStore, redactPostgresUrl, storeBackendOf, type DkeStore } from '../store/index.js';
import { serviceNoteKey } from '../keystore/note-signing-keys.js';
import { createWitness } from '../witness/witness.js';
import { auditLogOrigin, type ServiceConfig } from '../config/index.js';
import { startLogTransparency, type LogTransparency } from './log-transparency.js';
import { buildApp, type DkeApp } from './app.js';
import { createLogger } from './logger.js';
import { createMetrics, type ServiceMetrics } from './metrics.js';
import { SecurityEventRecorder, securityEventQuery } from '../security-events/index.js';

export interface StartServerOptions {
  /** Where JSON log lines go; default stdout. */
  readonly logDestination?: DestinationStream;
  /** Environment for DKE_MASTER_KEY; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Set in a cluster worker (src/service/cluster): its number, and whether it runs the once-per-service work. */
  readonly worker?: WorkerRole;
}

export interface WorkerRole {
  /** 1..server.workers; a replacement keeps the number of the worker it replaces. Logged as `worker`. */
  readonly id: number;
  /** Periodic checkpoints, witness submission, start-up warnings (log-transparency.ts). */
  readonly leader: boolean;
  /** What GET /metrics serves instead of this worker's own registry (every worker's, summed). */
  readonly metricsText?: () => Promise<string>;
  /** Called with the worker's registry once it exists, so the primary can collect it. */
  readonly onMetrics?: (metrics: ServiceMetrics) => void;
}

export interface RunningServer {
  readonly app: DkeApp;
  /** e.g. http://127.0.0.1:8443 */
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests, lets running ones finish, commits pending audit records, closes the store. */
  close(): Promise<void>;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: `cannot read the TLS ${what} file ${file}`,
      detail: cause instanceof Error ? cause.message : String(cause),
      cause,
    });
  }
}

/**
 * Microsoft DKE clients get tokens for the `resource` of the 401 challenge, which must be the service's own
 * https URL; a mismatch only shows once Office fails, so say it at start-up.
 */
function warnOnAudienceMismatch(logger: Logger, audience: string, publicBaseUrl: string | undefined): void {
  if (publicBaseUrl === undefined) return;
  // Plain http on loopback is a development set-up (npm start's console): Office cannot reach it anyway.
  const base = new URL(publicBaseUrl);
  if (base.protocol === 'http:' && isLoopbackIp(base.hostname)) return;
  let sameHost = false;
  try {
    sameHost = new URL(audience).host === new URL(publicBaseUrl).host;
  } catch {
    // Not a URL (e.g. api://...): fine for native clients, never for Microsoft DKE.
  }
  if (!sameHost || !audience.startsWith('https://')) {
    logger.warn(
      { audience, publicBaseUrl },
      'auth.audience is not an https URL on the publicBaseUrl host: Microsoft DKE clients will not get usable tokens',
    );
  }
}

/**
 * Loads (or creates) the master key and opens the key store: migrations, the audit tree backfill, the
 * PKCS#11 token. Logs what an operator must know. A cluster primary (src/service/cluster) runs it once
 * before forking, so start-up work that writes happens once and before any worker serves.
 */
export async function openServiceStore(
  config: ServiceConfig,
  logger: Logger,
  env?: NodeJS.ProcessEnv,
  withToken = true,
): Promise<{ master: LoadedMasterKey; service: KeyService<DkeStore> }> {
  const master = loadMasterKey({
    file: config.store.masterKeyFile,
    createIfMissing: true,
    ...(env === undefined ? {} : { env }),
  });
  if (master.source === 'created')
    logger.warn({ file: master.file }, 'created a new master key file: back it up');
  const pkcs11 = config.keys?.backends.pkcs11;
  const service = await openKeyServiceAt({
    dbPath: config.store.database,
    masterKey: master.masterKey,
    lockWaitMs: config.store.lockWaitMs,
    postgres: {
      ...config.store.postgres,
      // A PostgreSQL connection that dropped while idle, a VACUUM that failed: nothing a request can see.
      onWarning: (message, detail) => logger.warn({ detail }, message),
    },
    ...(pkcs11 === undefined || !withToken
      ? {}
      : {
          pkcs11,
          // Start even while the token is away; token keys answer 503 until it is back (docs/hsm.md).
          pkcs11Options: {
            eager: true,
            waitForToken: true,
            onStateChange: (health) => {
              const fields = { token: health.tokenLabel, state: health.state, detail: health.lastError };
              if (health.ok) logger.info(fields, 'PKCS#11 token ready');
              else logger.error(fields, 'PKCS#11 token not available: token keys fail closed (503)');
            },
          },
        }),
  });
  if (storeBackendOf(config.store.database) === 'postgres') {
    logger.info({ database: redactPostgresUrl(config.store.database) }, 'key store: PostgreSQL');
  }
  // Opening completed the Merkle tree of records an older release stored without one (docs/audit.md).
  const backfill = service.store instanceof SqliteStore ? service.store.treeBackfill : undefined;
  if (backfill !== undefined && backfill.leaves > 0) {
    logger.info(
      { leaves: backfill.leaves, ms: backfill.ms },
      'built the audit Merkle tree over records stored before it existed',
    );
  }

  return { master, service };
}

const LISTEN_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is in use (another process listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no such address on this machine',
};

/** The socket errors an operator can fix, in words (not "internal error"); anything else as it was. */
function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? LISTEN_FAILURES[code] : undefined;
  if (reason === undefined) return error;
  return new DkeError('ERR_IO', {
    message: `cannot listen on ${host}:${port}: ${reason}`,
    hint: 'choose another server.host / server.port (docs/config.md)',
    cause: error,
  });
}

export async function startServer(
  config: ServiceConfig,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  if (config.auth === undefined) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: 'invalid configuration: auth is required to serve',
      hint: 'see docs/config.md and docs/auth.md',
    });
  }
  const { worker } = options;
  const leader = worker?.leader ?? true;
  const logger = createLogger(
    config.logging.level,
    options.logDestination,
    worker === undefined ? {} : { worker: worker.id, pid: process.pid },
  );
  const authenticator = createAuthenticator(config.auth as AuthConfig);
  const { server } = config;
  const tls = server.tls && {
    cert: readPem(server.tls.certFile, 'certificate'),
    key: readPem(server.tls.keyFile, 'key'),
  };
  const { master, service } = await openServiceStore(config, logger, options.env);

  const metrics = createMetrics({ processMetrics: true });
  worker?.onMetrics?.(metrics);
  let transparency: LogTransparency;
  try {
    // The log key is created on first start, sealed under the master key; its name is the origin.
    const logKey = await serviceNoteKey(
      service.store,
      master.masterKey,
      'audit-log',
      auditLogOrigin(config.audit.log, server.publicBaseUrl),
    );
    transparency = await startLogTransparency({
      audit: service.audit,
      store: service.store,
      signer: logKey.signer,
      config: config.audit.log,
      onCheckpointSigned: () => metrics.observeCheckpointSigned(),
      onSubmission: (witness, outcome, detail) => {
        metrics.observeWitnessSubmission(witness, outcome);
        if (outcome === 'cosigned') return;
        const level = outcome === 'unreachable' || outcome === 'store_busy' ? 'warn' : 'error';
        logger[level]({ witness, outcome, detail }, 'witness did not cosign our checkpoint');
      },
      onError: (error) => logger.error({ err: error }, 'could not persist an audit checkpoint'),
      leader,
    });
  } catch (error) {
    await service.close();
    throw error;
  }
  const recorder = new SecurityEventRecorder(service.store, {
    ...server.securityEvents,
    onDropped: (events) => metrics.observeSecurityEventsDropped(events),
    onError: (error) => logger.error({ err: error }, 'could not write security events'),
  });
  const closeAll = async (): Promise<void> => {
    await transparency.close();
    await recorder.close();
    await service.close();
  };

  let app: DkeApp;
  try {
    const witnessConfig = config.audit?.witness;
    const witness =
      witnessConfig &&
      createWitness({
        store: service.store,
        logs: witnessConfig.logs,
        signer: (await serviceNoteKey(service.store, master.masterKey, 'witness', witnessConfig.name)).signer,
      });
    app = buildApp({
      ...(witness === undefined ? {} : { witness }),
      keys: service.keys,
      admin: service.keys,
      audit: service.audit,
      authenticator,
      logger,
      metrics,
      ...(worker?.metricsText === undefined ? {} : { metricsText: worker.metricsText }),
      securityEvents: {
        record: (clientAddress, reason, token) => recorder.record(clientAddress, reason, token),
        query: async (filter) => {
          const query = securityEventQuery(filter);
          await recorder.flush(); // what was counted so far, if the store takes it now (never waits)
          return service.store.querySecurityEvents(query);
        },
      },
      storeHealth: () => service.store.probeHealth(),
      tokenHealth: () => service.tokenHealth(),
      transparency,
      ...(config.console?.enabled === true && server.publicBaseUrl !== undefined
        ? {
            console: {
              config: config.console,
              sessionKey: master.masterKey.consoleSessionKey,
              publicBaseUrl: server.publicBaseUrl,
              sources: {
                store: service.store,
                log: service.audit,
                transparency,
                // Loaded at the first status check: a server without the console never loads the doctor.
                doctor: async () => (await import('../doctor/index.js')).runDoctor({ config }),
              },
            },
          }
        : {}),
      options: {
        ...(server.publicBaseUrl === undefined ? {} : { publicBaseUrl: server.publicBaseUrl }),
        ...(tls === undefined ? {} : { tls }),
        trustedProxies: server.trustedProxies,
        bodyLimit: server.bodyLimit,
        maxHeaderBytes: server.maxHeaderBytes,
        requestTimeoutMs: server.requestTimeoutMs,
        keepAliveTimeoutMs: server.keepAliveTimeoutMs,
        metrics: server.metrics,
        authFailureLimit: server.authFailureLimit,
      },
    });
    app.addHook('onClose', closeAll);
    await app.listen({ host: server.host, port: server.port });
  } catch (error) {
    await closeAll();
    throw listenError(error, server.host, server.port);
  }
  if (leader && tls === undefined && !isLoopbackIp(server.host)) {
    logger.warn(
      { host: server.host },
      'serving plain HTTP on a non-loopback address: terminate TLS in front of it',
    );
  }
  if (leader) warnOnAudienceMismatch(logger, (config.auth as AuthConfig).audience, server.publicBaseUrl);
  const port = (app.server.address() as AddressInfo).port;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  const url = `${tls === undefined ? 'http' : 'https'}://${host}:${port}`;
  logger.info({ url, database: config.store.database }, 'OpenDKE key service listening');
  return { app, url, port, close: () => app.close() };
}
