/**
 * The admin API under /admin/ (docs/protocol.md): key lifecycle, policy, object revocation and audit
 * queries. Callers need a token whose issuer config grants the admin role (Principal.isAdmin).
 *
 * Every call with a valid token is audited (src/service/audited-action.ts): `allowed` before it runs, `ok` or
 * `failed` after; a caller without the admin role as `denied`.
 */
import type { FastifyRequest } from 'fastify';
import { DkeError } from '../errors/index.js';
import { normalizePolicy } from '../policy/evaluate.js';
import type { AuditQuery, KeyAdmin, KeyPolicy, KeyProtocol, Principal } from './contracts.js';
import type { KeySpec } from '../crypto/holder-keys.js';
import type { DkeApp, RouteContext } from './app.js';
import { assertNewKeyName } from '../keystore/validation.js';
import { appendOrFail, keyTarget, runAudited, type AuditTarget } from './audited-action.js';
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
interface CreateKeyBody {
  readonly name: string;
  readonly protocol?: KeyProtocol;
  readonly spec?: KeySpec;
  readonly cacheSeconds?: number;
  readonly policy?: KeyPolicy;
  readonly privateKeyPem?: string;
}
interface AuditQuerystring {
  readonly key?: string;
  readonly object?: string;
  readonly subject?: string;
  readonly identity?: string;
  readonly since?: string;
  readonly limit?: number;
}

const keyReply = { 200: keyInfoSchema };

export function registerAdminRoutes(app: DkeApp, ctx: RouteContext, admin: KeyAdmin): void {
  /** Authenticate → admin check (refusals audited as `denied`) → runAudited. */
  async function adminCall<T>(
    request: FastifyRequest,
    action: string,
    target: AuditTarget,
    run: () => T | Promise<T>,
    after?: (result: T) => AuditTarget,
  ): Promise<T> {
    const principal: Principal = await ctx.authenticator.authenticate(request.headers.authorization);
    const event = {
      action,
      issuer: principal.issuer,
      subject: principal.subject,
      ...(principal.userName === undefined ? {} : { userName: principal.userName }),
      ...target,
      clientAddress: request.ip,
      requestId: request.id,
    };
    if (!principal.isAdmin) {
      await appendOrFail(ctx.audit, { ...event, result: 'denied', reason: 'ERR_ADMIN_REQUIRED' });
      throw new DkeError('ERR_ADMIN_REQUIRED');
    }
    return runAudited(ctx.audit, event, run, after);
  }

  app.get(
    '/admin/keys',
    {
      schema: {
        response: { 200: { type: 'object', properties: { keys: { type: 'array', items: keyInfoSchema } } } },
      },
    },
    (request) => adminCall(request, 'admin.key.list', {}, () => ({ keys: admin.list() })),
  );

  app.post<{ Body: CreateKeyBody }>(
    '/admin/keys',
    { schema: { body: createKeyBody, response: { 201: keyInfoSchema } } },
    async (request, reply) => {
      const { name, protocol, spec, cacheSeconds, policy, privateKeyPem } = request.body;
      const action = privateKeyPem === undefined ? 'admin.key.create' : 'admin.key.import';
      const info = await adminCall(
        request,
        action,
        { keyName: name },
        async () => {
          assertNewKeyName(name);
          // Validate the policy before the key exists, so a bad policy leaves nothing behind.
          const normalized = policy === undefined ? undefined : normalizePolicy(policy);
          const options = { protocol, spec, cacheSeconds };
          const created =
            privateKeyPem === undefined
              ? await admin.create(name, options)
              : await admin.import(name, privateKeyPem, options);
          return normalized === undefined ? created : admin.setPolicy(name, normalized);
        },
        keyTarget,
      );
      return reply.code(201).send(info);
    },
  );

  app.get<{ Params: NameParams }>(
    '/admin/keys/:name',
    { schema: { params: nameParams, response: keyReply } },
    (request) =>
      adminCall(request, 'admin.key.get', { keyName: request.params.name }, () =>
        admin.describe(request.params.name),
      ),
  );

  app.post<{ Params: NameParams; Body: { spec?: KeySpec; privateKeyPem?: string } | null }>(
    '/admin/keys/:name/rotate',
    { schema: { params: nameParams, body: rotateKeyBody, response: keyReply } },
    (request) => {
      const { spec, privateKeyPem } = request.body ?? {};
      return adminCall(
        request,
        'admin.key.rotate',
        { keyName: request.params.name },
        () => admin.rotate(request.params.name, { spec, pem: privateKeyPem }),
        keyTarget,
      );
    },
  );

  for (const [verb, run] of [
    ['disable', (name: string) => admin.disable(name)],
    ['enable', (name: string) => admin.enable(name)],
  ] as const) {
    app.post<{ Params: NameParams }>(
      `/admin/keys/:name/${verb}`,
      { schema: { params: nameParams, response: keyReply } },
      (request) =>
        adminCall(request, `admin.key.${verb}`, { keyName: request.params.name }, () =>
          run(request.params.name),
        ),
    );
  }

  app.post<{ Params: NameParams; Body: { confirm: string } }>(
    '/admin/keys/:name/destroy',
    { schema: { params: nameParams, body: destroyKeyBody, response: keyReply } },
    (request) =>
      adminCall(request, 'admin.key.destroy', { keyName: request.params.name }, () => {
        // Irreversible: the caller repeats the name, so a mistyped URL cannot shred a key.
        if (request.body.confirm !== request.params.name) {
          throw new DkeError('ERR_BAD_REQUEST', { message: 'confirm must repeat the key name' });
        }
        return admin.destroy(request.params.name);
      }),
  );

  app.put<{ Params: NameParams; Body: KeyPolicy }>(
    '/admin/keys/:name/policy',
    { schema: { params: nameParams, body: policySchema, response: keyReply } },
    (request) =>
      adminCall(request, 'admin.policy.set', { keyName: request.params.name }, () =>
        admin.setPolicy(request.params.name, normalizePolicy(request.body)),
      ),
  );

  app.put<{ Params: NameParams; Body: { cacheSeconds: number } }>(
    '/admin/keys/:name/cache',
    { schema: { params: nameParams, body: cacheBody, response: keyReply } },
    (request) =>
      adminCall(request, 'admin.cache.set', { keyName: request.params.name }, () =>
        admin.setCacheSeconds(request.params.name, request.body.cacheSeconds),
      ),
  );

  app.get<{ Params: NameParams }>(
    '/admin/keys/:name/revocations',
    { schema: { params: nameParams } },
    (request) =>
      adminCall(request, 'admin.revocation.list', { keyName: request.params.name }, () => ({
        revoked: admin.listRevokedObjects(request.params.name),
      })),
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
    { schema: { params: revocationParams, response: revocationReply } },
    (request) => {
      const { name, objectId } = request.params;
      return adminCall(request, 'admin.object.revoke', { keyName: name, objectId }, () => ({
        objectId,
        revoked: true,
        changed: admin.revokeObject(name, objectId),
      }));
    },
  );
  app.delete<{ Params: RevocationParams }>(
    '/admin/keys/:name/revocations/:objectId',
    { schema: { params: revocationParams, response: revocationReply } },
    (request) => {
      const { name, objectId } = request.params;
      return adminCall(request, 'admin.object.unrevoke', { keyName: name, objectId }, () => ({
        objectId,
        revoked: false,
        changed: admin.unrevokeObject(name, objectId),
      }));
    },
  );

  app.get<{ Querystring: AuditQuerystring }>(
    '/admin/audit',
    { schema: { querystring: auditQuerystring } },
    (request) => {
      const q = request.query;
      const query: AuditQuery = {
        ...(q.key === undefined ? {} : { keyName: q.key }),
        ...(q.object === undefined ? {} : { objectId: q.object }),
        ...(q.subject === undefined ? {} : { subject: q.subject }),
        ...(q.identity === undefined ? {} : { identity: q.identity }),
        ...(q.since === undefined ? {} : { since: q.since }),
        limit: q.limit ?? 100,
      };
      return adminCall(request, 'admin.audit.query', {}, () => ({ records: ctx.audit.query(query) }));
    },
  );

  app.get(
    '/admin/audit/verify',
    { schema: { querystring: { type: 'object', additionalProperties: false } } },
    (request) => adminCall(request, 'admin.audit.verify', {}, () => ctx.audit.verify()),
  );

  // Failed authentications, aggregated (docs/audit.md#security-events); only with a security event store.
  const events = ctx.securityEvents;
  if (events !== undefined) {
    app.get<{ Querystring: SecurityEventsQuerystring }>(
      '/admin/security-events',
      { schema: { querystring: securityEventsQuerystring, response: securityEventsReply } },
      (request) =>
        adminCall(request, 'admin.security.query', {}, () => ({ events: events.query(request.query) })),
    );
  }
}
