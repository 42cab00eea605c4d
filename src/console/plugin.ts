/**
 * The console under /console/ (docs/console.md), in its own Fastify scope: cookies, security headers (strict
 * CSP), sign-in, the gate of /console/api/ and each page's endpoints, and the built assets. Mounted by
 * buildApp when the configuration enables it.
 */
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance as DkeApp } from 'fastify';
import type { AuditLog, KeyAdmin } from '../service/contracts.js';
import { appendOrFail } from '../service/audited-action.js';
import { createKeyActions } from '../service/key-actions.js';
import type { ConsoleConfig } from './config.js';
import { createConsoleOidc, type ConsoleOidc } from './oidc.js';
import { cookieNames } from './session.js';
import { createConsoleGuard } from './guard.js';
import { CONSOLE_API_PREFIX, consoleRouter } from './api.js';
import { registerSignInRoutes } from './sign-in-routes.js';
import { registerSessionApi } from './session-api.js';
import { registerKeysApi } from './keys-api.js';
import { registerActivityApi } from './activity-api.js';
import { registerAuditApi } from './audit-api.js';
import { registerDocumentApi } from './document-api.js';
import { registerConsoleAssets } from './static.js';
import { integrityStatement } from '../report/index.js';
import { createIntegrityMonitor } from './integrity-monitor.js';
import { registerIntegrityApi } from './integrity-api.js';
import { registerReportApi } from './report-api.js';
import { registerStatusApi } from './status-api.js';
import type { ConsoleSources } from './sources.js';

export interface ConsoleDeps {
  readonly config: ConsoleConfig;
  /** 32 bytes sealing session cookies (MasterKey.consoleSessionKey: shared by every instance). */
  readonly sessionKey: Uint8Array;
  /** server.publicBaseUrl: the console's origin, redirect URI and the keys' label URLs. */
  readonly publicBaseUrl: string;
  /** What the audit, document, integrity, report, activity and status pages read. */
  readonly sources: ConsoleSources;
  /** Where the built pages are; default dist/console. */
  readonly assetsDir?: string;
  /** Tests: another relying party. */
  readonly oidc?: ConsoleOidc;
}

/** The Content-Security-Policy of every console answer: own scripts and styles only, nothing inline. */
export const CONSOLE_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

export function registerConsole(app: DkeApp, audit: AuditLog, admin: KeyAdmin, deps: ConsoleDeps): void {
  const base = deps.publicBaseUrl.replace(/\/+$/, '');
  const secure = base.startsWith('https://');
  const cookies = cookieNames(secure);
  const redirectUri = `${base}/console/callback`;
  const oidc = deps.oidc ?? createConsoleOidc(deps.config, redirectUri);
  const actions = createKeyActions(audit, admin);
  const guard = createConsoleGuard(deps.sessionKey, new URL(base).origin, actions);

  void app.register(async (scope: DkeApp) => {
    await scope.register(fastifyCookie);
    await scope.register(fastifyHelmet, {
      contentSecurityPolicy: { useDefaults: false, directives: CONSOLE_CSP },
      strictTransportSecurity: secure ? { maxAge: 31_536_000 } : false,
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginEmbedderPolicy: true,
    });
    scope.addHook('onRequest', async (request) => {
      if (request.routeOptions.url?.startsWith(`${CONSOLE_API_PREFIX}/`) !== true) return;
      await guard.admit(request, request.cookies[cookies.session]);
    });
    registerSignInRoutes(scope, {
      config: deps.config,
      oidc,
      sessionKey: deps.sessionKey,
      cookies,
      redirectUri,
      onSignIn: (event) => appendOrFail(audit, { action: 'console.signin', result: 'ok', ...event }),
    });
    const readActions = new Set<string>();
    const route = consoleRouter(scope, guard, actions, readActions);
    registerSessionApi(route, cookies);
    registerKeysApi(route, actions, base);
    // Each page's endpoints (docs/console.md, "Adding a page"): one module per page, one line here.
    registerActivityApi(route, deps.sources.store);
    const { sources } = deps;
    // One verification of the log at a time in this process, shared by the Integrity and report pages.
    const integrity = createIntegrityMonitor(() => integrityStatement(sources.log, sources.store));
    registerIntegrityApi(route, sources, integrity);
    registerReportApi(route, sources, integrity);
    registerStatusApi(route, sources);
    registerAuditApi(route, deps.sources.store, scope, readActions);
    registerDocumentApi(route, deps.sources.store);
    await registerConsoleAssets(scope, deps.assetsDir);
  });
}
