/**
 * Sign-in and sign-out: GET /console/login starts the authorization code flow (login state in a Lax cookie),
 * GET /console/callback finishes it and sets the Strict session cookie. The callback arrives as a cross-site
 * navigation from the issuer, so a Strict cookie set there would not be sent on a redirect continuing it: the
 * callback answers a small page that moves on to /console/ by itself (meta refresh, a link as fallback),
 * a same-site navigation that carries the session cookie.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DkeError } from '../errors/index.js';
import { problemOf } from '../service/http-errors.js';
import type { FastifyInstance as DkeApp } from 'fastify';
import type { ConsoleConfig } from './config.js';
import type { ConsoleOidc } from './oidc.js';
import { rolesOf, userNameOf } from './roles.js';
import {
  LOGIN_STATE_SECONDS,
  openLoginState,
  sealLoginState,
  sealSession,
  type CookieNames,
} from './session.js';

export interface SignInDeps {
  readonly config: ConsoleConfig;
  readonly oidc: ConsoleOidc;
  readonly sessionKey: Uint8Array;
  readonly cookies: CookieNames;
  /** The console's redirect URI: `<publicBaseUrl>/console/callback`. */
  readonly redirectUri: string;
  /** Records the sign-in in the audit log (who, from where). */
  readonly onSignIn: (event: {
    issuer: string;
    subject: string;
    userName?: string;
    clientAddress: string;
    requestId: string;
  }) => Promise<unknown>;
}

const CONTINUE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/console/">
<title>Signed in - OpenDKE console</title></head>
<body><p>Signed in. <a href="/console/">Continue to the console</a>.</p></body></html>
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Sign-in errors reach a person in a browser, not a program: a page with the public message and code (the
 * detail goes to the log, as everywhere) and a way back.
 */
function signInErrorPage(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer = problemOf(error);
  const detail = (error as { detail?: unknown }).detail;
  request.log.info({ code: answer.code, detail }, 'console sign-in refused');
  void reply
    .code(answer.status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign-in failed - OpenDKE console</title></head>\n` +
        `<body><h1>Sign-in failed</h1><p role="alert">${escapeHtml(answer.message)} (${answer.code})</p>\n` +
        `<p><a href="/console/">Back to the console</a></p></body></html>\n`,
    );
}

function cookieOptions(cookies: CookieNames, sameSite: 'lax' | 'strict', maxAge: number) {
  return { path: cookies.path, httpOnly: true, secure: cookies.secure, sameSite, maxAge };
}

export function registerSignInRoutes(app: DkeApp, deps: SignInDeps): void {
  const { cookies } = deps;
  const readCookie = (request: FastifyRequest, name: string): string | undefined => request.cookies[name];

  app.get('/console/login', { errorHandler: signInErrorPage }, async (_request, reply) => {
    const { url, login } = await deps.oidc.begin();
    void reply.setCookie(
      cookies.login,
      await sealLoginState(deps.sessionKey, login),
      cookieOptions(cookies, 'lax', LOGIN_STATE_SECONDS),
    );
    return reply.redirect(url.href, 302);
  });

  app.get('/console/callback', { errorHandler: signInErrorPage }, async (request, reply) => {
    const login = await openLoginState(deps.sessionKey, readCookie(request, cookies.login));
    void reply.clearCookie(cookies.login, { path: cookies.path, secure: cookies.secure });
    if (login === undefined) {
      throw new DkeError('ERR_CONSOLE_SIGNIN_FAILED', {
        message: 'the sign-in expired or was started in another browser: sign in again',
      });
    }
    // The URL the issuer redirected to, rebuilt on the configured redirect URI (never on the Host header).
    const query = request.url.indexOf('?');
    const callbackUrl = new URL(`${deps.redirectUri}${query < 0 ? '' : request.url.slice(query)}`);
    const claims = await deps.oidc.finish(callbackUrl, login);
    const subject = claims.sub;
    if (typeof subject !== 'string') throw new DkeError('ERR_CONSOLE_SIGNIN_FAILED');
    const userName = userNameOf(claims, deps.config);
    const seconds = deps.config.sessionMinutes * 60;
    const sealed = await sealSession(
      deps.sessionKey,
      {
        issuer: deps.config.issuer ?? '',
        subject,
        ...(userName === undefined ? {} : { userName }),
        roles: rolesOf(claims, deps.config),
      },
      seconds,
    );
    await deps.onSignIn({
      issuer: deps.config.issuer ?? '',
      subject,
      ...(userName === undefined ? {} : { userName }),
      clientAddress: request.ip,
      requestId: request.id,
    });
    void reply.setCookie(cookies.session, sealed, cookieOptions(cookies, 'strict', seconds));
    return reply.type('text/html; charset=utf-8').send(CONTINUE_PAGE);
  });
}
