/**
 * `dke serve` with `server.workers` > 1 (docs/deploy.md, "Every core: server.workers"): the node:cluster
 * primary. It runs the once-per-service start-up (master key, store migrations and backfill, the log and
 * witness keys) before any worker exists, forks N workers that share the listening socket, restarts a
 * worker that dies (with back-off), forwards SIGTERM/SIGINT for a graceful drain, sums the workers'
 * metrics for GET /metrics, and fails fast with one error when workers cannot start.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { DkeError, ERRORS, type ErrorCode } from '../../errors/index.js';
import { resolveAuthConfig } from '../../auth/index.js';
import { auditLogOrigin, type ServiceConfig } from '../../config/index.js';
import { serviceNoteKey } from '../../keystore/note-signing-keys.js';
import { openServiceStore } from '../server.js';
import {
  isWorkerMessage,
  WORKER_ID_VARIABLE,
  type PrimaryMessage,
  type StartupFailure,
  type WorkerMessage,
} from './messages.js';

export interface ClusterOptions {
  readonly workers: number;
  readonly logger: Logger;
  /** Called once, when every worker listens (the CLI prints the URL). */
  readonly onListening: (url: string) => void;
}

/** Replacements in a row that fail before listening: then the service stops (exit non-zero). */
const START_FAILURES_BEFORE_GIVING_UP = 5;
const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that ran this long before it died starts its slot's back-off afresh. */
const STABLE_AFTER_MS = 30_000;
/** How long a metrics collection waits for every worker's registry. */
const METRICS_TIMEOUT_MS = 4_000;

interface Slot {
  /** 1..N: WORKER_ID_VARIABLE, the `worker` of its log lines; 1 is the leader (log-transparency.ts). */
  readonly id: number;
  worker: Worker | undefined;
  ready: boolean;
  startedAt: number;
  /** Deaths in a row without STABLE_AFTER_MS of service: the back-off exponent. */
  crashes: number;
  /** Replacements in a row that died before listening. */
  startFailures: number;
  lastFailure: StartupFailure | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

function failureError(failure: StartupFailure | undefined, fallback: string): DkeError {
  if (failure === undefined) return new DkeError('ERR_INTERNAL', { detail: fallback });
  const code: ErrorCode = failure.code in ERRORS ? (failure.code as ErrorCode) : 'ERR_INTERNAL';
  return new DkeError(code, {
    ...(failure.message === undefined ? {} : { message: failure.message }),
    ...(failure.hint === undefined ? {} : { hint: failure.hint }),
    ...(failure.detail === undefined ? {} : { detail: failure.detail }),
  });
}

/**
 * What must happen once, before workers start: the checks that fail for every worker alike (auth), the
 * master key (created on first start), migrations and the tree backfill, and the log and witness keys.
 * The PKCS#11 token is left to the workers (each opens its own session).
 */
async function prepare(config: ServiceConfig, logger: Logger): Promise<void> {
  if (config.auth === undefined) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: 'invalid configuration: auth is required to serve',
      hint: 'see docs/config.md and docs/auth.md',
    });
  }
  resolveAuthConfig(config.auth);
  const { master, service } = await openServiceStore(config, logger, undefined, false);
  try {
    await serviceNoteKey(
      service.store,
      master.masterKey,
      'audit-log',
      auditLogOrigin(config.audit.log, config.server.publicBaseUrl),
    );
    const witness = config.audit.witness;
    if (witness !== undefined) await serviceNoteKey(service.store, master.masterKey, 'witness', witness.name);
  } finally {
    await service.close();
  }
}

/** Runs the cluster until SIGTERM/SIGINT (resolves) or until workers cannot start (rejects with their error). */
export async function runClusterPrimary(config: ServiceConfig, options: ClusterOptions): Promise<void> {
  const { logger } = options;
  await prepare(config, logger);

  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({
    id: index + 1,
    worker: undefined,
    ready: false,
    startedAt: 0,
    crashes: 0,
    startFailures: 0,
    lastFailure: undefined,
    restartTimer: undefined,
  }));
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let outcome: DkeError | undefined;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const metrics = metricsCollector(slots);

  const stop = (error?: DkeError): void => {
    if (phase === 'stopping') return;
    phase = 'stopping';
    outcome = error;
    for (const slot of slots) {
      if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      slot.worker?.process.kill('SIGTERM');
    }
    // Workers finish their running requests (bounded by requestTimeoutMs) and commit pending audit records.
    const graceMs = config.server.requestTimeoutMs * 2 + 15_000;
    setTimeout(() => {
      for (const slot of slots) {
        if (slot.worker === undefined) continue;
        logger.error({ worker: slot.id }, `worker did not stop within ${graceMs} ms: killed`);
        outcome ??= new DkeError('ERR_INTERNAL', { detail: 'a worker did not stop in time' });
        slot.worker.process.kill('SIGKILL');
      }
    }, graceMs).unref();
    settleIfDone();
  };
  const settleIfDone = (): void => {
    if (phase === 'stopping' && slots.every((slot) => slot.worker === undefined)) finish();
  };

  const fork = (slot: Slot): void => {
    slot.restartTimer = undefined;
    slot.ready = false;
    slot.lastFailure = undefined;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_ID_VARIABLE]: String(slot.id) });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) onMessage(slot, worker, message);
    });
    worker.on('exit', (code: number | null, signal: string | null) => onExit(slot, code, signal));
  };

  const onMessage = (slot: Slot, worker: Worker, message: WorkerMessage): void => {
    switch (message.dke) {
      case 'ready':
        slot.ready = true;
        slot.startFailures = 0;
        if (phase === 'starting' && slots.every((s) => s.ready)) {
          phase = 'running';
          logger.info({ workers: slots.length, url: message.url }, 'every worker listens');
          options.onListening(message.url);
        } else if (phase === 'running') {
          logger.info({ worker: slot.id }, 'replacement worker listens');
        }
        break;
      case 'startup-failed':
        slot.lastFailure = message;
        break;
      case 'metrics-request':
        metrics.answer(worker, message.requestId);
        break;
      case 'metrics-part':
        metrics.part(message.requestId, message.metrics);
        break;
    }
  };

  const onExit = (slot: Slot, code: number | null, signal: string | null): void => {
    const wasReady = slot.ready;
    const uptime = Date.now() - slot.startedAt;
    slot.worker = undefined;
    slot.ready = false;
    const how = signal === null ? `code ${String(code)}` : `signal ${signal}`;
    if (phase === 'stopping') {
      if (code !== 0 && signal === null) {
        logger.error({ worker: slot.id, code }, 'worker stopped with an error');
        outcome ??= failureError(slot.lastFailure, `worker ${slot.id} stopped with ${how}`);
      }
      settleIfDone();
      return;
    }
    if (!wasReady) {
      slot.startFailures += 1;
      // At start-up every worker fails alike (port in use, unreadable TLS key): stop at once, say it once.
      if (phase === 'starting' || slot.startFailures >= START_FAILURES_BEFORE_GIVING_UP) {
        logger.error(
          { worker: slot.id, exit: how, startFailures: slot.startFailures },
          'worker could not start',
        );
        stop(failureError(slot.lastFailure, `worker ${slot.id} exited (${how}) before it listened`));
        return;
      }
    }
    slot.crashes = wasReady && uptime >= STABLE_AFTER_MS ? 1 : slot.crashes + 1;
    const delay = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (slot.crashes - 1));
    logger.error(
      { worker: slot.id, exit: how, uptimeMs: uptime, restartInMs: delay },
      'worker exited unexpectedly: starting a replacement',
    );
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  };

  const onSignal = (): void => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const slot of slots) fork(slot);
    await finished;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (outcome !== undefined) throw outcome;
}

/** GET /metrics on any worker: every listening worker's registry, summed (prom-client's aggregators). */
function metricsCollector(slots: readonly Slot[]): {
  answer(requester: Worker, requestId: number): void;
  part(collectionId: number, metrics: unknown): void;
} {
  let nextId = 0;
  const collections = new Map<number, (metrics: unknown) => void>();
  const send = (worker: Worker, message: PrimaryMessage): void => {
    if (worker.isConnected()) worker.send(message);
  };
  return {
    answer(requester, requestId) {
      const workers = slots.flatMap((slot) => (slot.ready && slot.worker !== undefined ? [slot.worker] : []));
      const collectionId = nextId++;
      const parts: unknown[] = [];
      const timer = setTimeout(() => {
        collections.delete(collectionId);
        send(requester, { dke: 'metrics', requestId, error: 'a worker did not send its metrics in time' });
      }, METRICS_TIMEOUT_MS);
      collections.set(collectionId, (metrics) => {
        parts.push(metrics);
        if (parts.length < workers.length) return;
        clearTimeout(timer);
        collections.delete(collectionId);
        const registries = parts as Parameters<typeof AggregatorRegistry.aggregate>[0];
        Promise.resolve()
          .then(() => AggregatorRegistry.aggregate(registries).metrics())
          .then(
            (text) => send(requester, { dke: 'metrics', requestId, text }),
            (error: unknown) => send(requester, { dke: 'metrics', requestId, error: String(error) }),
          );
      });
      for (const worker of workers) send(worker, { dke: 'collect-metrics', requestId: collectionId });
    },
    part(collectionId, metrics) {
      collections.get(collectionId)?.(metrics);
    },
  };
}
