/**
 * `buildApp(deps)`: the key service as a Fastify instance, routes registered, not listening (tests inject
 * or listen on port 0; `startServer` listens for real). Everything process-wide (store, config files,
 * logger destination) comes in through `deps`, so one process can run several independent apps.
 */
import { randomUUID } from 'node:crypto';
import fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { AuditLog, Authenticator, KeyCore } from './contracts.js';
import { createAuditedUnwrap, type AuditedUnwrap } from './audited-unwrap.js';
import { bearerChallenge } from './challenge.js';
import { problemOf, problem, type HttpProblem, type ProblemMapper } from './http-errors.js';
import { createClientErrorHandler } from './client-errors.js';
import { discardBody } from './discard-body.js';
import { createMetrics, type ServiceMetrics } from './metrics.js';
import { registerAdminRoutes, type KeyAdmin } from './admin-routes.js';
import { registerHealth, type StoreHealth, type TokenHealthSummary } from './health.js';
import { createAuthGuard, type AuthFailureLimitConfig, type SecurityEventSink } from './auth-guard.js';
import { DEFAULTS } from '../config/schema.js';
import { verifiedTokenOf } from '../auth/index.js';
import type { SecurityEvent, SecurityEventFilter } from '../security-events/index.js';
import { registerNativeRoutes } from '../protocols/native/routes.js';
import { registerTransparencyRoutes } from './transparency-routes.js';
import type { LogTransparency } from './log-transparency.js';
import { registerMsDkeRoutes } from '../protocols/ms-dke/routes.js';
import { registerWitnessRoutes } from '../protocols/witness/routes.js';
import type { Witness } from '../witness/witness.js';
import { registerConsole, type ConsoleDeps } from '../console/plugin.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The protocol's adjustments to error answers (MS DKE: 400 for unknown keys, empty 403). */
    problem?: ProblemMapper;
  }
}

export interface AppOptions {
  /** Externally visible base URL; without it, scheme and host come from the request (trusted proxies only). */
  readonly publicBaseUrl?: string;
  readonly trustedProxies?: readonly string[];
  readonly bodyLimit?: number;
  /** Largest request head (request line and headers), bytes; larger: 431. */
  readonly maxHeaderBytes?: number;
  readonly requestTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
  /** Serve GET /metrics. Default true. */
  readonly metrics?: boolean;
  /** PEM certificate chain and key: serve HTTPS. */
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /** Failed authentications per client address before 429; default DEFAULTS.server.authFailureLimit. */
  readonly authFailureLimit?: AuthFailureLimitConfig;
}

/** Where failed authentications are recorded and read back (src/security-events over the store). */
export interface SecurityEvents extends SecurityEventSink {
  query(filter: SecurityEventFilter): Promise<SecurityEvent[]>;
}

export interface AppDeps {
  readonly keys: KeyCore;
  /** Key lifecycle for the admin API; without it, /admin routes are not served. */
  readonly admin?: KeyAdmin;
  readonly audit: AuditLog;
  readonly authenticator: Authenticator;
  readonly options?: AppOptions;
  /** Structured logger (createLogger); default: no logging. */
  readonly logger?: FastifyBaseLogger;
  readonly metrics?: ServiceMetrics;
  /** What GET /metrics serves; default this app's own registry (a cluster worker: every worker's, summed). */
  readonly metricsText?: () => Promise<string>;
  /** Without it, failed authentications are only counted in metrics and /admin/security-events is not served. */
  readonly securityEvents?: SecurityEvents;
  /** This service as a C2SP tlog-witness; without it, no /witness routes. */
  readonly witness?: Witness;
  /** Whether the store could take a write now (never waits, never rejects); reported by /healthz. Default: 'ok'. */
  readonly storeHealth?: () => Promise<StoreHealth>;
  /** The PKCS#11 token's state, when one is configured (docs/hsm.md); reported by /healthz. */
  readonly tokenHealth?: () => TokenHealthSummary | undefined;
  /** Our log's checkpoints, receipts and witnesses; without it none of that is served. */
  readonly transparency?: LogTransparency;
  /** The browser console at /console/ (docs/console.md); needs `admin`. Without it, no console. */
  readonly console?: ConsoleDeps;
}

/** What route modules receive. */
export interface RouteContext {
  readonly keys: KeyCore;
  readonly admin: KeyAdmin | undefined;
  readonly audit: AuditLog;
  readonly authenticator: Authenticator;
  readonly unwrap: AuditedUnwrap;
  readonly publicBaseUrl: string | undefined;
  readonly securityEvents: SecurityEvents | undefined;
  readonly transparency: LogTransparency | undefined;
}

export type DkeApp = FastifyInstance;

const DEFAULT_BODY_LIMIT = 64 * 1024;
/**
 * How much of a refused request's body is read and discarded so the client can read the answer
 * (src/service/discard-body.ts); beyond it the connection is closed with the body unread.
 */
export const MAX_DISCARDED_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** How often Node checks requestTimeout/headersTimeout (its default, 30 s, would make a 10 s limit 40 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 250;

function sendProblem(reply: FastifyReply, answer: HttpProblem): FastifyReply {
  reply.code(answer.status);
  for (const [name, value] of Object.entries(answer.headers ?? {})) reply.header(name, value);
  if (answer.emptyBody === true) return reply.send();
  return reply.type('application/json; charset=utf-8').send({ error: answer.code, message: answer.message });
}

export function buildApp(deps: AppDeps): DkeApp {
  const options = deps.options ?? {};
  const metrics = deps.metrics ?? createMetrics();
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const serverOptions = {
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    headersTimeout: requestTimeout,
    // Room for a token of MAX_TOKEN_LENGTH (src/auth/bearer.ts) beside the other headers (docs/config.md).
    maxHeaderSize: options.maxHeaderBytes ?? DEFAULTS.server.maxHeaderBytes,
  };
  const clientErrors = createClientErrorHandler(deps.logger);
  const trusted = options.trustedProxies ?? [];

  const app = fastify({
    ...(options.tls === undefined
      ? { http: serverOptions }
      : { https: { ...serverOptions, ...options.tls } }),
    ...(deps.logger === undefined ? { logger: false } : { loggerInstance: deps.logger }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    requestTimeout,
    connectionTimeout: requestTimeout * 2,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    trustProxy: trusted.length === 0 ? false : [...trusted],
    genReqId: () => randomUUID(),
    // One line per request (the onResponse hook below) instead of Fastify's two ("incoming request" and
    // "request completed"): half the serialization, redaction and write per request.
    disableRequestLogging: true,
    // A trailing slash must not change which key is meant (and must not end up in an MS DKE kid).
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // During shutdown, requests on open connections are still served in full (their audit records too):
    // Fastify's own 503 body would not be a registry error.
    return503OnClosing: false,
    // URL errors Fastify answers before routing (bad %-escapes, over-long segments): same error format.
    frameworkErrors: (error, _request, reply) => {
      void sendProblem(reply, problemOf(error));
    },
    // Requests the HTTP parser refuses (431, 400, 408) get registry errors too.
    clientErrorHandler: clientErrors.handle,
    // Validation only, never repair: Fastify's defaults would coerce types (`["jwe"]` → `"jwe"`, `5` → `["5"]`),
    // strip unknown fields and fill in defaults. Query strings are strings: their schemas say so (patterns).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  }) as unknown as DkeApp;

  // JSON only: without this, Fastify would parse text/plain bodies too (415 is the documented answer).
  app.removeContentTypeParser('text/plain');

  const { transparency } = deps;
  const ctx: RouteContext = {
    keys: deps.keys,
    admin: deps.admin,
    audit: deps.audit,
    authenticator: deps.authenticator,
    unwrap: createAuditedUnwrap({
      keys: deps.keys,
      audit: deps.audit,
      authenticator: deps.authenticator,
      metrics,
      ...(transparency === undefined ? {} : { releaseGate: () => transparency.assertWitnessed() }),
    }),
    publicBaseUrl: options.publicBaseUrl?.replace(/\/+$/, ''),
    securityEvents: deps.securityEvents,
    transparency: deps.transparency,
  };
  if (transparency !== undefined) metrics.setQuorumCosignatureAge(() => transparency.quorumAgeSeconds());
  const authGuard = createAuthGuard(
    options.authFailureLimit ?? DEFAULTS.server.authFailureLimit,
    metrics,
    deps.securityEvents,
  );

  app.addHook('onRequest', async (request, reply) => {
    clientErrors.track(request.raw, reply.raw);
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    metrics.observeRequest(
      request.routeOptions.url ?? 'unmatched',
      request.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });

  // The single error handler: every route's errors, Fastify's parsing and validation errors included.
  app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let answer = problemOf(error);
    const detail = (error as { detail?: unknown }).detail;
    if (answer.status >= 500) {
      request.log.error({ code: answer.code, detail, err: error }, 'request failed');
    } else {
      request.log.info({ code: answer.code, detail }, 'request refused');
    }
    // A console request without a session is not a failed authentication (no token was offered).
    if (answer.status === 401 && answer.code !== 'ERR_CONSOLE_SIGNIN_REQUIRED') {
      const invalid = answer.code === 'ERR_AUTH_INVALID';
      answer = authGuard.authFailed(request.ip, answer.code, verifiedTokenOf(error)) ?? {
        ...answer,
        headers: { 'www-authenticate': bearerChallenge(deps.authenticator.challenge, invalid) },
      };
    }
    // A body still arriving (too large, or refused before it was read) is read to its end first, so the
    // client, still sending, can read the answer; a body beyond the bound is left and the connection closed.
    if (!(await discardBody(request.raw, MAX_DISCARDED_BODY_BYTES))) reply.header('connection', 'close');
    const mapper = request.routeOptions.config.problem;
    return sendProblem(reply, mapper === undefined ? answer : mapper(answer));
  });
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, problem('ERR_NOT_FOUND')));

  registerHealth(
    app,
    deps.storeHealth ?? (() => Promise.resolve('ok' as const)),
    (error) => app.log.error({ err: error }, 'health probe failed'),
    transparency?.witnessHealth() === undefined ? undefined : () => transparency.witnessHealth() ?? 'ok',
    deps.tokenHealth,
  );
  if (options.metrics !== false) {
    app.get('/metrics', { schema: { querystring: { type: 'object' } } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return deps.metricsText === undefined ? metrics.registry.metrics() : deps.metricsText();
    });
  }

  registerNativeRoutes(app, ctx);
  if (deps.transparency !== undefined) registerTransparencyRoutes(app, deps.transparency);
  if (deps.admin !== undefined) registerAdminRoutes(app, ctx, deps.admin);
  if (deps.admin !== undefined && deps.console !== undefined) {
    registerConsole(app, deps.audit, deps.admin, deps.console);
  }
  // Last: MS DKE owns the catch-all `/{keyName}` routes; static routes above win over them.
  registerMsDkeRoutes(app, ctx);
  if (deps.witness !== undefined) registerWitnessRoutes(app, ctx, deps.witness);
  return app;
}
