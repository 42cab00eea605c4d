/**
 * DEVELOPMENT ONLY. The authorization endpoint of the authorization-code grant (RFC 6749 §4.1) with PKCE
 * (RFC 7636, S256 only): a login form for the configured development users, and one-time codes bound to
 * client, redirect URI, PKCE challenge and nonce, valid for CODE_LIFETIME_MS.
 *
 * Errors found before the client and its redirect URI are known good are shown on a page (never redirected
 * to an unchecked URI); errors after that go back to the client as `error=` on its redirect URI.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { OAuthError, type DevClient, type DevUser } from './types.js';

export type { DevUser };

export const CODE_LIFETIME_MS = 60_000;
const MAX_PENDING_CODES = 1000;
/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** A checked authorization request: everything the login form carries and the code will be bound to. */
export interface AuthorizationRequest {
  readonly client: DevClient;
  readonly redirectUri: string;
  readonly scope: string;
  readonly state: string | undefined;
  readonly nonce: string | undefined;
  readonly codeChallenge: string;
}

/** An error to send back to the client on its (checked) redirect URI. */
export class RedirectError extends Error {
  constructor(
    readonly request: Pick<AuthorizationRequest, 'redirectUri' | 'state'>,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export interface PendingCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly nonce: string | undefined;
  readonly scope: string;
  readonly user: DevUser;
  readonly expiresAt: number;
}

/** One-time codes in memory: taking a code removes it, whether the exchange then succeeds or not. */
export class CodeStore {
  private readonly codes = new Map<string, PendingCode>();

  constructor(private readonly now: () => number = Date.now) {}

  issue(pending: Omit<PendingCode, 'expiresAt'>): string {
    for (const [code, entry] of this.codes) if (entry.expiresAt <= this.now()) this.codes.delete(code);
    // Bounded: the oldest pending code goes first.
    if (this.codes.size >= MAX_PENDING_CODES) {
      const oldest = this.codes.keys().next();
      if (oldest.done !== true) this.codes.delete(oldest.value);
    }
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, { ...pending, expiresAt: this.now() + CODE_LIFETIME_MS });
    return code;
  }

  take(code: string): PendingCode | undefined {
    const entry = this.codes.get(code);
    this.codes.delete(code);
    return entry === undefined || entry.expiresAt <= this.now() ? undefined : entry;
  }
}

function equalText(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Checks an authorization request (query of GET, or the hidden fields of the login form's POST). */
export function checkAuthorizationRequest(
  clients: ReadonlyMap<string, DevClient>,
  params: ReadonlyMap<string, string>,
): AuthorizationRequest {
  const clientId = params.get('client_id');
  const client = clientId === undefined ? undefined : clients.get(clientId);
  if (client === undefined) throw new OAuthError(400, 'invalid_request', 'unknown client_id');
  const redirectUri = params.get('redirect_uri');
  if (redirectUri === undefined || !(client.redirectUris ?? []).includes(redirectUri)) {
    throw new OAuthError(400, 'invalid_request', 'redirect_uri is not registered for this client');
  }
  const state = params.get('state');
  const back = { redirectUri, state };
  if (params.get('response_type') !== 'code') {
    throw new RedirectError(back, 'unsupported_response_type', 'only response_type=code is supported');
  }
  const scope = params.get('scope') ?? '';
  if (!scope.split(' ').includes('openid')) {
    throw new RedirectError(back, 'invalid_scope', 'scope must include openid');
  }
  const codeChallenge = params.get('code_challenge');
  if (params.get('code_challenge_method') !== 'S256' || codeChallenge === undefined) {
    throw new RedirectError(back, 'invalid_request', 'PKCE with code_challenge_method=S256 is required');
  }
  if (!S256_CHALLENGE.test(codeChallenge)) {
    throw new RedirectError(back, 'invalid_request', 'code_challenge is not an S256 challenge');
  }
  return { client, redirectUri, scope, state, nonce: params.get('nonce'), codeChallenge };
}

/** The user whose name and password match, or undefined (every user compared, in constant time each). */
export function findUser(users: readonly DevUser[], username: string, password: string): DevUser | undefined {
  let found: DevUser | undefined;
  for (const user of users) {
    const match = equalText(user.username, username) && equalText(user.password, password);
    if (match) found = user;
  }
  return found;
}

/** Whether `verifier` is the PKCE verifier of `challenge` (S256). */
export function verifierMatches(verifier: string | undefined, challenge: string): boolean {
  if (verifier === undefined || !VERIFIER.test(verifier)) return false;
  return equalText(createHash('sha256').update(verifier).digest('base64url'), challenge);
}

/** The client's redirect URI with the code (or error), state and iss (RFC 9207). */
export function redirectWith(
  request: Pick<AuthorizationRequest, 'redirectUri' | 'state'>,
  issuer: string,
  fields: Readonly<Record<string, string>>,
): string {
  const url = new URL(request.redirectUri);
  for (const [name, value] of Object.entries(fields)) url.searchParams.set(name, value);
  if (request.state !== undefined) url.searchParams.set('state', request.state);
  url.searchParams.set('iss', issuer);
  return url.toString();
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The hidden fields that carry the authorization request through the login form. */
const CARRIED = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
] as const;

/** The login form (no script, no style: it works under `default-src 'none'`). */
export function loginPage(params: ReadonlyMap<string, string>, error?: string): string {
  const hidden = CARRIED.filter((name) => params.has(name))
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params.get(name) ?? '')}">`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Development sign-in</title></head>
<body>
<h1>OpenDKE development issuer</h1>
<p><strong>DEVELOPMENT ONLY</strong>: not an identity provider. Sign in as one of the configured development users.</p>
${error === undefined ? '' : `<p role="alert">${escapeHtml(error)}</p>`}
<form method="post" action="/authorize">
${hidden}
<p><label for="username">User name</label> <input id="username" name="username" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
</body></html>
`;
}

/** An error page for requests that cannot be redirected back. */
export function errorPage(description: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
<body><h1>Sign-in error</h1><p role="alert">${escapeHtml(description)}</p></body></html>
`;
}
