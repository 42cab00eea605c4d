/**
 * GET /healthz: liveness plus the store's state, answered within milliseconds whatever the store does
 * (the probe never waits for a lock). A store locked by another process (a `dke key` command, a backup) is
 * `200 {"status":"degraded","store":"locked"}`: the process is healthy, public keys are still served and
 * unwraps wait for the lock (up to store.lockWaitMs), so a load balancer or orchestrator must not drain or
 * restart it for that; alert on `status` instead. A store that fails outright is 503 `"store":"failing"`.
 */
import type { DkeApp } from './app.js';

export type StoreHealth = 'free' | 'locked';

interface HealthAnswer {
  readonly status: 'ok' | 'degraded' | 'failing';
  readonly store: 'ok' | 'locked' | 'failing';
}

const healthSchema = {
  type: 'object',
  properties: { status: { type: 'string' }, store: { type: 'string' } },
};

export function registerHealth(
  app: DkeApp,
  probe: () => StoreHealth,
  report: (error: unknown) => void,
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
      return reply.code(answer.status === 'failing' ? 503 : 200).send(answer);
    },
  );
}
