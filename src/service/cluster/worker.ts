/**
 * One cluster worker (docs/deploy.md, "Every core: server.workers"): today's server in full (its own store
 * handle, group commit, pools), on the listening socket the primary shares. It tells the primary when it
 * listens or why it could not start (the primary prints that once), answers the primary's metrics
 * collection, and drains on SIGTERM/SIGINT like a single `dke serve`.
 */
import type { ServiceConfig } from '../../config/index.js';
import { DkeError } from '../../errors/index.js';
import { startServer, type RunningServer } from '../server.js';
import type { ServiceMetrics } from '../metrics.js';
import { isPrimaryMessage, WORKER_ID_VARIABLE, type StartupFailure, type WorkerMessage } from './messages.js';

/** How long GET /metrics waits for the primary to collect every worker's registry. */
const METRICS_TIMEOUT_MS = 5_000;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** This worker's number from the primary (WORKER_ID_VARIABLE); 1 is the leader. */
function workerIdFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const id = Number(env[WORKER_ID_VARIABLE]);
  if (!Number.isInteger(id) || id < 1) {
    throw new DkeError('ERR_INTERNAL', { detail: `${WORKER_ID_VARIABLE} is not a worker number` });
  }
  return id;
}

/** Asks the primary for every worker's metrics, summed (prom-client AggregatorRegistry). */
function clusterMetricsClient(): () => Promise<string> {
  let nextId = 0;
  const pending = new Map<number, (answer: { text?: string; error?: string }) => void>();
  process.on('message', (message: unknown) => {
    if (isPrimaryMessage(message) && message.dke === 'metrics') pending.get(message.requestId)?.(message);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const requestId = nextId++;
      const timer = setTimeout(
        () => settle({ error: 'the cluster primary did not answer' }),
        METRICS_TIMEOUT_MS,
      );
      function settle(answer: { text?: string; error?: string }): void {
        clearTimeout(timer);
        pending.delete(requestId);
        if (answer.text !== undefined) resolve(answer.text);
        else
          reject(new DkeError('ERR_INTERNAL', { detail: `cluster metrics: ${answer.error ?? 'no answer'}` }));
      }
      pending.set(requestId, settle);
      send({ dke: 'metrics-request', requestId });
    });
}

/** Answers the primary's collection rounds with this worker's registry. */
function answerCollections(metrics: ServiceMetrics): void {
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message) || message.dke !== 'collect-metrics') return;
    const { requestId } = message;
    metrics.registry.getMetricsAsJSON().then(
      (json) => send({ dke: 'metrics-part', requestId, metrics: json }),
      () => send({ dke: 'metrics-part', requestId, metrics: [] }),
    );
  });
}

function startupFailure(error: unknown): StartupFailure {
  if (!(error instanceof DkeError)) {
    return { code: 'ERR_INTERNAL', detail: error instanceof Error ? error.message : String(error) };
  }
  return {
    code: error.code,
    message: error.message,
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    ...(error.detail === undefined ? {} : { detail: error.detail }),
  };
}

/**
 * Starts the server; resolves when it has stopped after SIGTERM/SIGINT. A start-up failure is reported to
 * the primary (not printed here: N workers would print it N times) and the worker exits with its code.
 */
export async function runClusterWorker(config: ServiceConfig): Promise<void> {
  const id = workerIdFromEnv();
  let server: RunningServer;
  try {
    server = await startServer(config, {
      worker: {
        id,
        leader: id === 1,
        ...(config.server.metrics ? { metricsText: clusterMetricsClient() } : {}),
        onMetrics: answerCollections,
      },
    });
  } catch (error) {
    send({ dke: 'startup-failed', ...startupFailure(error) });
    process.exitCode = error instanceof DkeError ? error.exitCode : 1;
    process.disconnect();
    return;
  }
  send({ dke: 'ready', url: server.url });
  await new Promise<void>((resolve, reject) => {
    let stopping = false;
    // Handlers stay installed: SIGINT from a terminal reaches every process of the group, and the primary
    // forwards it as SIGTERM too; the second signal must not kill a worker that is draining.
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void server.close().then(resolve, reject);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // The IPC channel would keep the process alive.
  process.disconnect();
}
