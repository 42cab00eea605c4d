/**
 * GET /healthz: liveness plus the store's state, answered within milliseconds whatever the store does
 * (the probe never waits for a lock, and a networked backend's probe has a short timeout). A store locked by
 * another process (a `dke key` command, a backup) is `200 {"status":"degraded","store":"locked"}`, one that
 * cannot be reached (PostgreSQL down) `200 {"status":"degraded","store":"unavailable"}`: the process is
 * healthy, and the condition is shared by every instance on that store, so a load balancer or orchestrator
 * must not drain or restart it for that; alert on `status` instead.
 */
import type { StoreHealth } from '../store/index.js';
import type { DkeApp } from './app.js';

export type { StoreHealth };
/**
 * Our log's witnesses (docs/audit.md): 'unwitnessed' while the fail-closed rule refuses releases,
 * 'errors' while a witness refuses our checkpoints or answers with a bad cosignature. Either is `degraded`.
 */
export type WitnessHealth = 'ok' | 'unwitnessed' | 'errors';

interface HealthAnswer {
  readonly status: 'ok' | 'degraded';
  readonly store: StoreHealth;
  readonly witnesses?: WitnessHealth;
}

const healthSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, store: { type: 'string' }, witnesses: { type: 'string' } },
};

export function registerHealth(
  app: DkeApp,
  probe: () => Promise<StoreHealth>,
  report: (error: unknown) => void,
  witnesses?: () => WitnessHealth,
): void {
  app.get('/healthz', { schema: { response: { 200: healthSchema } } }, async () => {
    let store: StoreHealth;
    try {
      store = await probe();
    } catch (error) {
      // The contract says a probe never rejects; if one does anyway, the store is not usable.
      report(error);
      store = 'unavailable';
    }
    let answer: HealthAnswer = { status: store === 'ok' ? 'ok' : 'degraded', store };
    if (witnesses !== undefined) {
      const state = witnesses();
      answer = { ...answer, witnesses: state, ...(state !== 'ok' ? { status: 'degraded' as const } : {}) };
    }
    return answer;
  });
}
