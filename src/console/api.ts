/**
 * How a console page adds its endpoints (docs/console.md, "Adding a page"): `route(app, spec, handler)` with
 * the URL under /console/api/, the audit action, the roles that may call it and the JSON schemas. The gate
 * (src/console/guard.ts) has run before the handler: it gets the signed-in user and the audit actor.
 */
import type { FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { FastifyInstance as DkeApp } from 'fastify';
import type { AuditTarget } from '../service/audited-action.js';
import type { KeyActions } from '../service/key-actions.js';
import type { ConsoleGuard, SignedIn } from './guard.js';
import type { ConsoleRole } from './session.js';

/** The roles of every read-only page: auditors, and admins (who read the same records through the admin API). */
export const READERS: readonly ConsoleRole[] = ['admin', 'auditor'];

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
  /**
   * Runs `run` audited under the route's action as the signed-in user (`allowed` before, `ok` or `failed`
   * after: KeyActions.call), so a page's reads and its refusals are recorded under one name.
   */
  readonly audited: <T>(target: AuditTarget, run: () => T | Promise<T>) => Promise<T>;
}

export type ConsoleRouter = (
  spec: ConsoleRouteSpec,
  handler: (call: ConsoleCall) => Promise<unknown>,
) => void;

export const CONSOLE_API_PREFIX = '/console/api';

/**
 * `readActions` collects the audit actions of the GET routes (the pages' reads), for the Audit page's "hide
 * page reads" filter: the list follows the routes, so a new page's reads are hidden with the others.
 */
export function consoleRouter(
  app: DkeApp,
  guard: ConsoleGuard,
  actions: KeyActions,
  readActions: Set<string>,
): ConsoleRouter {
  return (spec, handler) => {
    if (spec.method === 'GET') readActions.add(spec.action);
    app.route({
      method: spec.method,
      url: `${CONSOLE_API_PREFIX}${spec.url}`,
      config: { console: { action: spec.action, roles: spec.roles } },
      ...(spec.schema === undefined ? {} : { schema: spec.schema }),
      handler: async (request, reply) => {
        const who = guard.signedIn(request);
        const audited = <T>(target: AuditTarget, run: () => T | Promise<T>): Promise<T> =>
          actions.call(who.actor, spec.action, target, run);
        const result = await handler({ who, request, reply, audited });
        return reply.code(spec.status ?? 200).send(result);
      },
    });
  };
}
