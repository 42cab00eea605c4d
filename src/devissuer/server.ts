/**
 * DEVELOPMENT ONLY: a minimal OpenID Connect issuer for demos and tests. Client credentials for programs;
 * authorization code + PKCE with a bare login form for the configured development users (plain-text
 * passwords in memory); no consent, no persistence, keys in memory. It binds to loopback addresses only
 * and must never stand in for a real identity provider.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { DkeError } from '../errors/index.js';
import { isLoopbackIp } from '../auth/loopback.js';
import { KeyRing, type DevSigningAlg } from './keys.js';
import { signJwt, type SignTokenOptions } from './sign.js';
import { checkTokenRequest, OAuthError, parseForm, type DevClient } from './token-endpoint.js';
import {
  checkAuthorizationRequest,
  CodeStore,
  errorPage,
  findUser,
  loginPage,
  RedirectError,
  redirectWith,
  type DevUser,
} from './authorize.js';

export interface DevIssuerOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  readonly port?: number;
  /** Loopback address to bind, default 127.0.0.1; anything else is refused. */
  readonly host?: string;
  /** Signature algorithm of the generated keys, default ES256. */
  readonly alg?: DevSigningAlg;
  readonly clients?: readonly DevClient[];
  /** Who can sign in at the authorization endpoint's login form. */
  readonly users?: readonly DevUser[];
  /** Audience for clients that have none and requests that name none. */
  readonly defaultAudience?: string;
  /** Lifetime of issued tokens, default 3600. */
  readonly tokenLifetimeSeconds?: number;
}

/** Request counters, so tests can see how often clients fetch metadata. */
export interface DevIssuerStats {
  discovery: number;
  jwks: number;
  token: number;
  /** Authorization endpoint requests (form shown or submitted). */
  authorize: number;
}

export interface DevIssuer {
  /** The issuer identifier, e.g. http://127.0.0.1:43121 (no trailing slash). */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  readonly authorizationEndpoint: string;
  readonly alg: DevSigningAlg;
  /** Key id of the current signing key. */
  readonly kid: string;
  readonly stats: DevIssuerStats;
  /** Signs a token with the current key (tests). See SignTokenOptions. */
  signToken(claims: Readonly<Record<string, unknown>>, options?: SignTokenOptions): Promise<string>;
  /** Generates a new current key; the old one stays published unless dropPrevious. Returns the new kid. */
  rotateKey(options?: { dropPrevious?: boolean }): Promise<string>;
  /** The published key set. */
  publicJwks(): JSONWebKeySet;
  close(): Promise<void>;
}

const MAX_FORM_BYTES = 16 * 1024;

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_FORM_BYTES) throw new OAuthError(413, 'invalid_request', 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the development issuer. Throws ERR_CONFIG_INVALID for a non-loopback host. */
export async function startDevIssuer(options: DevIssuerOptions = {}): Promise<DevIssuer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackIp(host)) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: `the development issuer binds only to loopback addresses, not ${host}`,
      hint: 'use 127.0.0.1 or ::1; use a real identity provider for anything else',
    });
  }
  const alg = options.alg ?? 'ES256';
  const ring = await KeyRing.create(alg);
  const clients = new Map((options.clients ?? []).map((client) => [client.clientId, client]));
  const lifetime = options.tokenLifetimeSeconds ?? 3600;
  const stats: DevIssuerStats = { discovery: 0, jwks: 0, token: 0, authorize: 0 };
  const users = options.users ?? [];
  const codes = new CodeStore();
  let issuer = '';

  const sign = (claims: Readonly<Record<string, unknown>>, signOptions?: SignTokenOptions): Promise<string> =>
    signJwt(ring.signingKey, issuer, claims, { expiresInSeconds: lifetime, ...signOptions });

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.token += 1;
    try {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw new OAuthError(400, 'invalid_request', 'expected application/x-www-form-urlencoded');
      }
      const params = parseForm(await readBody(req));
      const grant = checkTokenRequest(
        clients,
        req.headers.authorization,
        params,
        options.defaultAudience,
        codes,
      );
      if (grant.grant === 'authorization_code') {
        const { code, client } = grant;
        const userClaims = { sub: code.user.username, ...code.user.claims };
        const now = Math.floor(Date.now() / 1000);
        const idToken = await sign({
          ...userClaims,
          iss: issuer,
          aud: client.clientId,
          azp: client.clientId,
          auth_time: now,
          ...(code.nonce === undefined ? {} : { nonce: code.nonce }),
        });
        const access =
          grant.audience === undefined
            ? {}
            : {
                access_token: await sign({
                  ...userClaims,
                  iss: issuer,
                  aud: grant.audience,
                  azp: client.clientId,
                  client_id: client.clientId,
                  scope: code.scope,
                }),
              };
        return sendJson(
          res,
          200,
          { ...access, id_token: idToken, token_type: 'Bearer', expires_in: lifetime, scope: code.scope },
          { pragma: 'no-cache' },
        );
      }
      const accessToken = await sign({
        sub: grant.client.clientId,
        ...grant.client.claims,
        iss: issuer,
        aud: grant.audience,
        azp: grant.client.clientId,
        client_id: grant.client.clientId,
        ...(grant.scope === undefined ? {} : { scope: grant.scope }),
      });
      sendJson(
        res,
        200,
        { access_token: accessToken, token_type: 'Bearer', expires_in: lifetime },
        { pragma: 'no-cache' },
      );
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      const headers: Record<string, string> =
        error.error === 'invalid_client' ? { 'www-authenticate': 'Basic' } : {};
      sendJson(res, error.status, { error: error.error, error_description: error.description }, headers);
    }
  }

  function sendHtml(res: ServerResponse, status: number, html: string, formTarget?: string): void {
    // No script, no style; the form may post here and be redirected to the client.
    const formAction = formTarget === undefined ? "'self'" : `'self' ${new URL(formTarget).origin}`;
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    res.end(html);
  }

  /** GET shows the login form for a valid request; POST signs the user in and redirects with a code. */
  async function authorize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.authorize += 1;
    let params: Map<string, string>;
    try {
      if (req.method === 'GET') {
        params = parseForm(new URL(req.url ?? '/', 'http://localhost').search.slice(1));
      } else {
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
        if (type !== 'application/x-www-form-urlencoded') {
          throw new OAuthError(400, 'invalid_request', 'expected application/x-www-form-urlencoded');
        }
        params = parseForm(await readBody(req));
      }
      const request = checkAuthorizationRequest(clients, params);
      if (req.method === 'GET') return sendHtml(res, 200, loginPage(params), request.redirectUri);
      const user = findUser(users, params.get('username') ?? '', params.get('password') ?? '');
      if (user === undefined) {
        return sendHtml(res, 401, loginPage(params, 'Wrong user name or password.'), request.redirectUri);
      }
      const code = codes.issue({
        clientId: request.client.clientId,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        nonce: request.nonce,
        scope: request.scope,
        user,
      });
      res.writeHead(302, { location: redirectWith(request, issuer, { code }), 'cache-control': 'no-store' });
      res.end();
    } catch (error) {
      if (error instanceof RedirectError) {
        const fields = { error: error.error, error_description: error.description };
        res.writeHead(302, {
          location: redirectWith(error.request, issuer, fields),
          'cache-control': 'no-store',
        });
        return void res.end();
      }
      if (!(error instanceof OAuthError)) throw error;
      sendHtml(res, error.status, errorPage(error.description));
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
      stats.discovery += 1;
      return sendJson(res, 200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        token_endpoint: `${issuer}/token`,
        authorization_endpoint: `${issuer}/authorize`,
        grant_types_supported: ['client_credentials', 'authorization_code'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
        id_token_signing_alg_values_supported: [alg],
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'profile', 'email'],
        authorization_response_iss_parameter_supported: true,
        subject_types_supported: ['public'],
        opendke_development_only: true,
      });
    }
    if (req.method === 'GET' && path === '/jwks') {
      stats.jwks += 1;
      return sendJson(res, 200, ring.jwks(), { 'content-type': 'application/jwk-set+json' });
    }
    if (path === '/authorize') {
      if (req.method !== 'GET' && req.method !== 'POST') {
        return sendJson(res, 405, { error: 'invalid_request' }, { allow: 'GET, POST' });
      }
      return authorize(req, res);
    }
    if (path === '/token') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request' }, { allow: 'POST' });
      return token(req, res);
    }
    sendJson(res, 404, { error: 'not_found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  issuer = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    authorizationEndpoint: `${issuer}/authorize`,
    alg,
    get kid() {
      return ring.signingKey.kid;
    },
    stats,
    signToken: sign,
    rotateKey: (rotateOptions) => ring.rotate(rotateOptions?.dropPrevious ?? false),
    publicJwks: () => ring.jwks(),
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive connections (fetch keeps them) would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
