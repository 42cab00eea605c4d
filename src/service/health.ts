/**
 * GET /healthz: liveness plus the store's state, answered within milliseconds whatever the store does
 * (the probe never waits for a lock). A store locked by another process (a `dke key` command, a backup) is
 * `200 {"status":"degraded","store":"locked"}`: the process is healthy, public keys are still served and
 * unwraps wait for the lock (up to store.lockWaitMs), so a load balancer or orchestrator must not drain or
 * restart it for that; alert on `status` instead. A store that fails outright is 503 `"store":"failing"`.
 */
import type { DkeApp } from './app.js';

export type StoreHealth = 'free' | 'locked';
/**
 * Our log's witnesses (docs/audit.md): 'unwitnessed' while the fail-closed rule refuses releases,
 * 'errors' while a witness refuses our checkpoints or answers with a bad cosignature. Either is `degraded`.
 */
export type WitnessHealth = 'ok' | 'unwitnessed' | 'errors';

interface HealthAnswer {
  readonly status: 'ok' | 'degraded' | 'failing';
  readonly store: 'ok' | 'locked' | 'failing';
  readonly witnesses?: WitnessHealth;
}

const healthSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, store: { type: 'string' }, witnesses: { type: 'string' } },
};

export function registerHealth(
  app: DkeApp,
  probe: () => StoreHealth,
  report: (error: unknown) => void,
  witnesses?: () => WitnessHealth,
): void {
  app.get(
    '/healthz',
    { schema: { response: { 200: healthSchema, 503: healthSchema } } },
    (_request, reply) => {
      let answer: HealthAnswer;
      try {
        answer = probe() === 'free' ? { status: 'ok', store: 'ok' } : { status: 'degraded', store: 'locked' };
      } catch (error) {
        report(error);
        answer = { status: 'failing', store: 'failing' };
      }
      if (witnesses !== undefined) {
        const state = witnesses();
        answer = {
          ...answer,
          witnesses: state,
          ...(state !== 'ok' && answer.status === 'ok' ? { status: 'degraded' as const } : {}),
        };
      }
      return reply.code(answer.status === 'failing' ? 503 : 200).send(answer);
    },
  );
}
