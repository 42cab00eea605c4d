/**
 * The admin API under /admin/ (docs/protocol.md): key lifecycle, policy, object revocation and audit
 * queries. Callers need a token whose issuer config grants the admin role (Principal.isAdmin).
 *
 * The caller is authenticated and its admin role checked when the request arrives (onRequest), before its
 * body is read and before anything is validated: an unauthenticated caller never learns how the API
 * validates, a caller without the role only that it lacks it.
 *
 * Every call with a valid token is audited (src/service/audited-action.ts): `allowed` before it runs, `ok` or
 * `failed` after; a caller without the admin role as `denied`.
 */
import type { KeyBackendKind } from '../keystore/backends/operator.js';
import type { FastifyRequest } from 'fastify';
import { DkeError } from '../errors/index.js';
import { MAX_AUDIT_FIELD_CHARS } from '../audit/index.js';
import type { AuditQuery, KeyAdmin, KeyPolicy, Principal } from './contracts.js';
import type { KeySpec } from '../crypto/holder-keys.js';
import type { DkeApp, RouteContext } from './app.js';
import type { AuditTarget } from './audited-action.js';
import { createKeyActions, type Actor, type CreateKeyRequest } from './key-actions.js';
import {
  auditQuerystring,
  cacheBody,
  createKeyBody,
  destroyKeyBody,
  keyInfoSchema,
  nameParams,
  policySchema,
  revocationParams,
  rotateKeyBody,
} from './admin-schemas.js';
import {
  securityEventsQuerystring,
  securityEventsReply,
  type SecurityEventsQuerystring,
} from './security-event-schemas.js';

export type { KeyAdmin } from './contracts.js';

interface NameParams {
  readonly name: string;
}
interface RevocationParams extends NameParams {
  readonly objectId: string;
}
interface AuditQuerystring {
  readonly key?: string;
  readonly object?: string;
  readonly subject?: string;
  readonly identity?: string;
  readonly since?: string;
  /** Decimal digits (the schema's pattern); its range is checked here. */
  readonly limit?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The audit action of an admin route; every /admin route has one. */
    adminAction?: string;
  }
}

const keyReply = { 200: keyInfoSchema };
const DEFAULT_AUDIT_LIMIT = 100;
const MAX_AUDIT_LIMIT = 1000;

function auditLimit(limit: string | undefined): number {
  if (limit === undefined) return DEFAULT_AUDIT_LIMIT;
  const value = Number(limit);
  if (value > MAX_AUDIT_LIMIT) {
    throw new DkeError('ERR_BAD_REQUEST', { message: `querystring.limit must be <= ${MAX_AUDIT_LIMIT}` });
  }
  return value;
}

/** The key (and object) the URL names, for the `denied` record: only when the route's schema accepts them. */
function urlTarget(request: FastifyRequest): AuditTarget {
  const valid = request.getValidationFunction('params');
  if (valid === undefined || !valid(request.params)) return {};
  const { name, objectId } = request.params as Partial<RevocationParams>;
  return {
    ...(name === undefined ? {} : { keyName: name }),
    ...(objectId === undefined ? {} : { objectId }),
  };
}

export function registerAdminRoutes(app: DkeApp, ctx: RouteContext, admin: KeyAdmin): void {
  /** Admins admitted by the onRequest hook below, for their audited call. */
  const admitted = new WeakMap<FastifyRequest, Principal>();
  const actions = createKeyActions(ctx.audit, admin);

  function actorOf(request: FastifyRequest, principal: Principal): Actor {
    return {
      issuer: principal.issuer,
      subject: principal.subject,
      ...(principal.userName === undefined ? {} : { userName: principal.userName }),
      clientAddress: request.ip,
      requestId: request.id,
    };
  }

  /** The admitted admin of this request (the onRequest hook ran for every /admin route). */
  function admittedActor(request: FastifyRequest): Actor {
    const principal = admitted.get(request);
    if (principal === undefined) {
      throw new DkeError('ERR_INTERNAL', { detail: 'admin call without an admitted admin' });
    }
    return actorOf(request, principal);
  }

  // Authenticate → admin check (refusals audited as `denied`), before the body is parsed or validated.
  app.addHook('onRequest', async (request) => {
    const url = request.routeOptions.url;
    if (url === undefined || !url.startsWith('/admin/')) return;
    const action = request.routeOptions.config.adminAction;
    if (action === undefined) throw new DkeError('ERR_INTERNAL', { detail: `${url} has no adminAction` });
    const principal = await ctx.authenticator.authenticate(request.headers.authorization);
    if (!principal.isAdmin) {
      await actions.refuse(actorOf(request, principal), action, urlTarget(request), 'ERR_ADMIN_REQUIRED');
      throw new DkeError('ERR_ADMIN_REQUIRED');
    }
    admitted.set(request, principal);
  });

  /** The admitted admin's call under the route's action, audited (runAudited). */
  function adminCall<T>(request: FastifyRequest, target: AuditTarget, run: () => T | Promise<T>): Promise<T> {
    const action = request.routeOptions.config.adminAction;
    if (action === undefined) throw new DkeError('ERR_INTERNAL', { detail: 'admin route without an action' });
    return actions.call(admittedActor(request), action, target, run);
  }

  app.get(
    '/admin/keys',
    {
      config: { adminAction: 'admin.key.list' },
      schema: {
        response: { 200: { type: 'object', properties: { keys: { type: 'array', items: keyInfoSchema } } } },
      },
    },
    async (request) => ({ keys: await actions.list(admittedActor(request)) }),
  );

  app.post<{ Body: CreateKeyRequest }>(
    '/admin/keys',
    // A caller without the role is refused before the body is read: audited as `admin.key.create`.
    {
      config: { adminAction: 'admin.key.create' },
      schema: { body: createKeyBody, response: { 201: keyInfoSchema } },
    },
    async (request, reply) =>
      reply.code(201).send(await actions.create(admittedActor(request), request.body)),
  );

  app.get<{ Params: NameParams }>(
    '/admin/keys/:name',
    { config: { adminAction: 'admin.key.get' }, schema: { params: nameParams, response: keyReply } },
    (request) => actions.describe(admittedActor(request), request.params.name),
  );

  app.post<{
    Params: NameParams;
    Body: { spec?: KeySpec; privateKeyPem?: string; backend?: KeyBackendKind } | null;
  }>(
    '/admin/keys/:name/rotate',
    {
      config: { adminAction: 'admin.key.rotate' },
      schema: { params: nameParams, body: rotateKeyBody, response: keyReply },
    },
    (request) => actions.rotate(admittedActor(request), request.params.name, request.body ?? {}),
  );

  for (const [verb, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    app.post<{ Params: NameParams }>(
      `/admin/keys/:name/${verb}`,
      { config: { adminAction: `admin.key.${verb}` }, schema: { params: nameParams, response: keyReply } },
      (request) => actions.setEnabled(admittedActor(request), request.params.name, enabled),
    );
  }

  app.post<{ Params: NameParams; Body: { confirm: string } }>(
    '/admin/keys/:name/destroy',
    {
      config: { adminAction: 'admin.key.destroy' },
      schema: { params: nameParams, body: destroyKeyBody, response: keyReply },
    },
    (request) => actions.destroy(admittedActor(request), request.params.name, request.body.confirm),
  );

  app.put<{ Params: NameParams; Body: KeyPolicy }>(
    '/admin/keys/:name/policy',
    {
      config: { adminAction: 'admin.policy.set' },
      schema: { params: nameParams, body: policySchema, response: keyReply },
    },
    (request) => actions.setPolicy(admittedActor(request), request.params.name, request.body),
  );

  app.put<{ Params: NameParams; Body: { cacheSeconds: number } }>(
    '/admin/keys/:name/cache',
    {
      config: { adminAction: 'admin.cache.set' },
      schema: { params: nameParams, body: cacheBody, response: keyReply },
    },
    (request) =>
      actions.setCacheSeconds(admittedActor(request), request.params.name, request.body.cacheSeconds),
  );

  app.get<{ Params: NameParams }>(
    '/admin/keys/:name/revocations',
    { config: { adminAction: 'admin.revocation.list' }, schema: { params: nameParams } },
    (request) => actions.listRevocations(admittedActor(request), request.params.name),
  );

  const revocationReply = {
    200: {
      type: 'object',
      properties: {
        objectId: { type: 'string' },
        revoked: { type: 'boolean' },
        changed: { type: 'boolean' },
      },
    },
  };
  app.put<{ Params: RevocationParams }>(
    '/admin/keys/:name/revocations/:objectId',
    {
      config: { adminAction: 'admin.object.revoke' },
      schema: { params: revocationParams, response: revocationReply },
    },
    (request) =>
      actions.setRevoked(admittedActor(request), request.params.name, request.params.objectId, true),
  );
  app.delete<{ Params: RevocationParams }>(
    '/admin/keys/:name/revocations/:objectId',
    {
      config: { adminAction: 'admin.object.unrevoke' },
      schema: { params: revocationParams, response: revocationReply },
    },
    (request) =>
      actions.setRevoked(admittedActor(request), request.params.name, request.params.objectId, false),
  );

  app.get<{ Querystring: AuditQuerystring }>(
    '/admin/audit',
    { config: { adminAction: 'admin.audit.query' }, schema: { querystring: auditQuerystring } },
    (request) => {
      const q = request.query;
      const query: AuditQuery = {
        ...(q.key === undefined ? {} : { keyName: q.key }),
        ...(q.object === undefined ? {} : { objectId: q.object }),
        ...(q.subject === undefined ? {} : { subject: q.subject }),
        ...(q.identity === undefined ? {} : { identity: q.identity }),
        ...(q.since === undefined ? {} : { since: q.since }),
        limit: auditLimit(q.limit),
      };
      return adminCall(request, {}, async () => ({ records: await ctx.audit.query(query) }));
    },
  );

  app.get(
    '/admin/audit/verify',
    {
      config: { adminAction: 'admin.audit.verify' },
      schema: { querystring: { type: 'object', additionalProperties: false } },
    },
    (request) => adminCall(request, {}, () => ctx.audit.verify()),
  );

  // Our log's receipts and checkpoints (docs/audit.md "Receipts", "Checkpoints").
  const transparency = ctx.transparency;
  if (transparency !== undefined) {
    app.get<{ Querystring: { request: string } }>(
      '/admin/audit/receipt',
      {
        config: { adminAction: 'admin.audit.receipt' },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['request'],
            properties: { request: { type: 'string', minLength: 1, maxLength: MAX_AUDIT_FIELD_CHARS } },
          },
        },
      },
      (request) =>
        adminCall(request, {}, async () => ({
          receipts: await transparency.receiptsForRequest(request.query.request),
        })),
    );
    app.post(
      '/admin/audit/checkpoint',
      {
        config: { adminAction: 'admin.audit.checkpoint' },
        schema: { querystring: { type: 'object', additionalProperties: false } },
      },
      (request) =>
        adminCall(request, {}, async () => {
          const row = await transparency.checkpointNow();
          return { size: row.size, rootHash: row.root.toString('base64'), checkpoint: row.note };
        }),
    );
  }

  // Failed authentications, aggregated (docs/audit.md#security-events); only with a security event store.
  const events = ctx.securityEvents;
  if (events !== undefined) {
    app.get<{ Querystring: SecurityEventsQuerystring }>(
      '/admin/security-events',
      {
        config: { adminAction: 'admin.security.query' },
        schema: { querystring: securityEventsQuerystring, response: securityEventsReply },
      },
      (request) => {
        const { limit, ...filter } = request.query;
        const query = { ...filter, ...(limit === undefined ? {} : { limit: Number(limit) }) };
        return adminCall(request, {}, async () => ({ events: await events.query(query) }));
      },
    );
  }
}
