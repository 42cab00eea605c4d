/**
 * How a console page adds its endpoints (docs/console.md, "Adding a page"): `route(app, spec, handler)` with
 * the URL under /console/api/, the audit action, the roles that may call it and the JSON schemas. The gate
 * (src/console/guard.ts) has run before the handler: it gets the signed-in user and the audit actor.
 */
import type { FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { FastifyInstance as DkeApp } from 'fastify';
import type { ConsoleGuard, SignedIn } from './guard.js';
import type { ConsoleRole } from './session.js';

export interface ConsoleRouteSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Under /console/api/, e.g. `/keys/:name/rotate`. */
  readonly url: string;
  /** The audit action of the call (its refusals are recorded under it too). */
  readonly action: string;
  /** Who may call it: any of these roles; empty: any signed-in user. */
  readonly roles: readonly ConsoleRole[];
  readonly schema?: FastifySchema;
  /** Success status, default 200. */
  readonly status?: number;
}

export interface ConsoleCall {
  readonly who: SignedIn;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
}

export type ConsoleRouter = (
  spec: ConsoleRouteSpec,
  handler: (call: ConsoleCall) => Promise<unknown>,
) => void;

export const CONSOLE_API_PREFIX = '/console/api';

export function consoleRouter(app: DkeApp, guard: ConsoleGuard): ConsoleRouter {
  return (spec, handler) => {
    app.route({
      method: spec.method,
      url: `${CONSOLE_API_PREFIX}${spec.url}`,
      config: { console: { action: spec.action, roles: spec.roles } },
      ...(spec.schema === undefined ? {} : { schema: spec.schema }),
      handler: async (request, reply) => {
        const result = await handler({ who: guard.signedIn(request), request, reply });
        return reply.code(spec.status ?? 200).send(result);
      },
    });
  };
}
