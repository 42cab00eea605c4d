/**
 * The console API's gate, run when a request arrives (before its body is read): a valid session (401
 * ERR_CONSOLE_SIGNIN_REQUIRED), then for a change (anything but GET/HEAD) the CSRF token of that session in
 * X-CSRF-Token and an Origin equal to the console's (403 ERR_CSRF), then the route's roles (403
 * ERR_ADMIN_REQUIRED for admin routes, ERR_CONSOLE_ROLE_REQUIRED otherwise). Refusals of a signed-in user are
 * audited as `denied` under the route's action, like the admin API's refusals.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { DkeError, type ErrorCode } from '../errors/index.js';
import type { Actor, KeyActions } from '../service/key-actions.js';
import type { AuditTarget } from '../service/audited-action.js';
import { openSession, type ConsoleRole, type ConsoleSession } from './session.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A console API route: its audit action and the roles that may call it (empty: any signed-in user). */
    console?: { readonly action: string; readonly roles: readonly ConsoleRole[] };
  }
}

export const CSRF_HEADER = 'x-csrf-token';

export interface SignedIn {
  readonly session: ConsoleSession;
  readonly actor: Actor;
}

function sameText(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function actorOf(request: FastifyRequest, session: ConsoleSession): Actor {
  return {
    issuer: session.issuer,
    subject: session.subject,
    ...(session.userName === undefined ? {} : { userName: session.userName }),
    clientAddress: request.ip,
    requestId: request.id,
  };
}

/** The key and object a URL names, for the `denied` record. */
function urlTarget(request: FastifyRequest): AuditTarget {
  const params = request.params as Partial<Record<string, unknown>> | undefined;
  const name = params?.name;
  const objectId = params?.objectId;
  return {
    ...(typeof name === 'string' && name.length <= 64 ? { keyName: name } : {}),
    ...(typeof objectId === 'string' && objectId.length <= 128 ? { objectId } : {}),
  };
}

export interface ConsoleGuard {
  /** Runs the gate; returns who is signed in (also kept for `signedIn`). */
  admit(request: FastifyRequest, sessionCookie: string | undefined): Promise<SignedIn>;
  /** The admitted user of a request the gate let through. */
  signedIn(request: FastifyRequest): SignedIn;
}

export function createConsoleGuard(
  sessionKey: Uint8Array,
  origin: string,
  actions: KeyActions,
): ConsoleGuard {
  const admitted = new WeakMap<FastifyRequest, SignedIn>();

  async function refuse(
    request: FastifyRequest,
    who: SignedIn,
    action: string,
    code: ErrorCode,
  ): Promise<never> {
    await actions.refuse(who.actor, action, urlTarget(request), code);
    throw new DkeError(code);
  }

  return {
    async admit(request, sessionCookie) {
      const route = request.routeOptions.config.console;
      if (route === undefined)
        throw new DkeError('ERR_INTERNAL', { detail: `${request.url} has no console config` });
      const session = await openSession(sessionKey, sessionCookie);
      if (session === undefined) throw new DkeError('ERR_CONSOLE_SIGNIN_REQUIRED');
      const who = { session, actor: actorOf(request, session) };
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const token = request.headers[CSRF_HEADER];
        const tokenOk = typeof token === 'string' && sameText(token, session.csrf);
        if (!tokenOk || request.headers.origin !== origin)
          await refuse(request, who, route.action, 'ERR_CSRF');
      }
      if (route.roles.length > 0 && !route.roles.some((role) => session.roles.includes(role))) {
        const code =
          session.roles.length > 0 && route.roles.includes('admin')
            ? 'ERR_ADMIN_REQUIRED'
            : 'ERR_CONSOLE_ROLE_REQUIRED';
        await refuse(request, who, route.action, code);
      }
      admitted.set(request, who);
      return who;
    },
    signedIn(request) {
      const who = admitted.get(request);
      if (who === undefined)
        throw new DkeError('ERR_INTERNAL', { detail: 'console route without a signed-in user' });
      return who;
    },
  };
}
