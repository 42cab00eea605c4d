/**
 * Prometheus metrics of one app instance (its own registry, so several apps in one process do not clash).
 * Labels are bounded: routes are patterns, keys are only named when they exist.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type UnwrapOutcome =
  'allowed' | 'denied' | 'failed' | 'unknown_key' | 'unauthenticated' | 'audit_unavailable';

export interface ServiceMetrics {
  readonly registry: Registry;
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  observeUnwrap(protocol: string, keyName: string | undefined, outcome: UnwrapOutcome): void;
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
  return {
    registry,
    observeRequest(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route, method }, seconds);
    },
    observeUnwrap(protocol, keyName, outcome) {
      unwraps.inc({ protocol, key: keyName ?? '(unknown)', result: outcome });
    },
  };
}
