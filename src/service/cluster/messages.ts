/**
 * What the cluster primary and its workers say to each other over the IPC channel (src/service/cluster).
 * Every message has a `dke` field naming its kind, so prom-client's or Node's own messages are told apart.
 */

/** The environment variable that gives a forked worker its number (1..N). */
export const WORKER_ID_VARIABLE = 'OPENDKE_CLUSTER_WORKER';

/** A DkeError's public parts (a registry code; anything else is ERR_INTERNAL with its text as detail). */
export interface StartupFailure {
  readonly code: string;
  readonly message?: string;
  readonly hint?: string;
  readonly detail?: string;
}

export type WorkerMessage =
  /** The worker listens: it serves requests from now on. */
  | { readonly dke: 'ready'; readonly url: string }
  /** The worker could not start (it exits after this): the error, for the primary to report once. */
  | ({ readonly dke: 'startup-failed' } & StartupFailure)
  /** GET /metrics reached this worker: the primary collects every worker's registry and answers `metrics`. */
  | { readonly dke: 'metrics-request'; readonly requestId: number }
  /** This worker's registry (prom-client getMetricsAsJSON), for the primary's `collect-metrics`. */
  | { readonly dke: 'metrics-part'; readonly requestId: number; readonly metrics: unknown };

export type PrimaryMessage =
  | { readonly dke: 'collect-metrics'; readonly requestId: number }
  | { readonly dke: 'metrics'; readonly requestId: number; readonly text?: string; readonly error?: string };

const WORKER_KINDS = new Set(['ready', 'startup-failed', 'metrics-request', 'metrics-part']);
const PRIMARY_KINDS = new Set(['collect-metrics', 'metrics']);

function kindOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { dke?: unknown }).dke : undefined;
}

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return WORKER_KINDS.has(kindOf(message) as string);
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return PRIMARY_KINDS.has(kindOf(message) as string);
}
