/**
 * GET /healthz: liveness plus the store's state, answered within milliseconds whatever the store does
 * (the probe never waits for a lock, and a networked backend's probe has a short timeout). A store locked by
 * another process (a `dke key` command, a backup) is `200 {"status":"degraded","store":"locked"}`: the process
 * serves (unwraps wait for the lock), so a load balancer must not drain it for that; alert on `status`. A store
 * that cannot be reached (PostgreSQL down, or this instance cut off from it) is `503 {"status":"failing",
 * "store":"unavailable"}`: this instance refuses every request that needs the store, so a load balancer should
 * send traffic to one that can reach it. Use it for readiness, not for restarts: the instance recovers by itself
 * once the store is back (docs/deploy.md). With a PKCS#11 token configured (docs/hsm.md) `token` is its state:
 * `ready`, or `recovering` / `unavailable` / `refused`, then (at best) `degraded`: token keys answer 503 until
 * it reconnects by itself, software keys keep working, so the instance is not taken out of rotation for it.
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
  readonly status: 'ok' | 'degraded' | 'failing';
  readonly store: StoreHealth;
  readonly witnesses?: WitnessHealth;
  readonly token?: string;
}

/** The token's state for /healthz (src/keystore/backends/pkcs11/token.ts TokenHealth, in short). */
export interface TokenHealthSummary {
  readonly ok: boolean;
  readonly state: string;
}

const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    store: { type: 'string' },
    witnesses: { type: 'string' },
    token: { type: 'string' },
  },
};

export function registerHealth(
  app: DkeApp,
  probe: () => Promise<StoreHealth>,
  report: (error: unknown) => void,
  witnesses?: () => WitnessHealth,
  token?: () => TokenHealthSummary | undefined,
): void {
  app.get(
    '/healthz',
    { schema: { response: { 200: healthSchema, 503: healthSchema } } },
    async (_request, reply) => {
      let store: StoreHealth;
      try {
        store = await probe();
      } catch (error) {
        // The contract says a probe never rejects; if one does anyway, the store is not usable.
        report(error);
        store = 'unavailable';
      }
      const status = store === 'ok' ? 'ok' : store === 'locked' ? 'degraded' : 'failing';
      let answer: HealthAnswer = { status, store };
      if (witnesses !== undefined) {
        const state = witnesses();
        const worse = state !== 'ok' && status === 'ok';
        answer = { ...answer, witnesses: state, ...(worse ? { status: 'degraded' as const } : {}) };
      }
      const tokenHealth = token?.();
      if (tokenHealth !== undefined) {
        const worse = !tokenHealth.ok && answer.status === 'ok';
        answer = { ...answer, token: tokenHealth.state, ...(worse ? { status: 'degraded' as const } : {}) };
      }
      return reply.code(answer.status === 'failing' ? 503 : 200).send(answer);
    },
  );
}
