/**
 * Prometheus metrics of one app instance (its own registry, so several apps in one process do not clash).
 * Labels are bounded: routes are patterns, keys are only named when they exist.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type UnwrapOutcome =
  'allowed' | 'denied' | 'failed' | 'unknown_key' | 'unauthenticated' | 'audit_unavailable';

export interface ServiceMetrics {
  readonly registry: Registry;
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  observeUnwrap(protocol: string, keyName: string | undefined, outcome: UnwrapOutcome): void;
  /** A request refused for its credentials (reason: ERR_AUTH_MISSING or ERR_AUTH_INVALID). */
  observeAuthFailure(reason: string): void;
  /**
   * A failed authentication answered 429 because its client address, or its token's issuer+subject, is over
   * the limit; an answer both limits refused counts once under each.
   */
  observeRateLimited(by: 'address' | 'subject'): void;
  /** Security events lost (backlog full, or the store failed). */
  observeSecurityEventsDropped(events: number): void;
  /** The audit log key signed a checkpoint. */
  observeCheckpointSigned(): void;
  /** One submission of our checkpoint to a witness, by outcome (src/audit/witness-client.ts). */
  observeWitnessSubmission(witness: string, outcome: string): void;
  /** Where the age of the newest quorum cosignature (seconds; none: -1) is read from at scrape time. */
  setQuorumCosignatureAge(read: () => number | undefined): void;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): ServiceMetrics {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'dke_' });
  const requests = new Counter({
    name: 'dke_http_requests_total',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'dke_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const unwraps = new Counter({
    name: 'dke_unwraps_total',
    help: 'Private-key operations (native unwrap, MS DKE decrypt) by protocol, key and outcome',
    labelNames: ['protocol', 'key', 'result'] as const,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'dke_auth_failures_total',
    help: 'Requests refused for their credentials, by reason (ERR_AUTH_MISSING, ERR_AUTH_INVALID)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'dke_auth_rate_limited_total',
    help: 'Failed authentications answered 429 because the client address (by="address") or the verified token subject (by="subject") is over server.authFailureLimit',
    labelNames: ['by'] as const,
    registers: [registry],
  });
  const eventsDropped = new Counter({
    name: 'dke_security_events_dropped_total',
    help: 'Security events lost because the in-memory backlog was full or the store failed',
    registers: [registry],
  });
  const checkpointsSigned = new Counter({
    name: 'dke_audit_checkpoints_signed_total',
    help: 'Checkpoints of the audit log signed with the log key',
    registers: [registry],
  });
  const witnessSubmissions = new Counter({
    name: 'dke_audit_witness_submissions_total',
    help: 'Submissions of our checkpoints to witnesses, by witness and outcome (cosigned, conflict, refused, invalid_cosignature, unreachable, store_busy)',
    labelNames: ['witness', 'outcome'] as const,
    registers: [registry],
  });
  let quorumAge: () => number | undefined = () => undefined;
  new Gauge({
    name: 'dke_audit_quorum_cosignature_age_seconds',
    help: 'Age of the newest checkpoint cosignature from a quorum of witnesses; -1 when there is none',
    registers: [registry],
    // Summed over cluster workers it would mean nothing: the oldest view any worker acts on.
    aggregator: 'max',
    collect() {
      this.set(quorumAge() ?? -1);
    },
  });
  return {
    registry,
    observeRequest(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route, method }, seconds);
    },
    observeUnwrap(protocol, keyName, outcome) {
      unwraps.inc({ protocol, key: keyName ?? '(unknown)', result: outcome });
    },
    observeAuthFailure(reason) {
      authFailures.inc({ reason });
    },
    observeRateLimited(by) {
      rateLimited.inc({ by });
    },
    observeSecurityEventsDropped(events) {
      eventsDropped.inc(events);
    },
    observeCheckpointSigned() {
      checkpointsSigned.inc();
    },
    observeWitnessSubmission(witness, outcome) {
      witnessSubmissions.inc({ witness, outcome });
    },
    setQuorumCosignatureAge(read) {
      quorumAge = read;
    },
  };
}
