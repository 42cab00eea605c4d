/**
 * Console sessions are stateless: a sealed cookie (JWE, `dir` + A256GCM, under a key derived from the master
 * key), so every instance sharing the master key accepts it and nothing is stored (docs/console.md, "Sessions").
 * The price: a session cannot be revoked before it expires (logout deletes the cookie in that browser), so its
 * lifetime is bounded (console.sessionMinutes) and roles are read again at each sign-in.
 *
 * Two cookies, each sealed for its own purpose so one can never stand in for the other:
 * - the session: HttpOnly, SameSite=Strict, `__Host-` and Secure under https;
 * - the login state (state, nonce, PKCE verifier): HttpOnly, SameSite=Lax (it must come back on the
 *   issuer's cross-site redirect to the callback), ten minutes, deleted by the callback.
 */
import { randomBytes } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

export type ConsoleRole = 'admin' | 'auditor';

export interface ConsoleSession {
  readonly issuer: string;
  readonly subject: string;
  readonly userName?: string;
  readonly roles: readonly ConsoleRole[];
  /** The CSRF token of this session: sent back by the page in X-CSRF-Token on every change. */
  readonly csrf: string;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export interface LoginState {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

const SESSION_PURPOSE = 'opendke-console-session';
const LOGIN_PURPOSE = 'opendke-console-login';
export const LOGIN_STATE_SECONDS = 600;

export interface CookieNames {
  readonly session: string;
  readonly login: string;
  /** `/` with the `__Host-` prefix (required there), else the console's own path. */
  readonly path: string;
  readonly secure: boolean;
}

/** `__Host-` names (Secure, Path=/, no Domain) when the console is served over https. */
export function cookieNames(secure: boolean): CookieNames {
  return secure
    ? { session: '__Host-opendke-console', login: '__Host-opendke-login', path: '/', secure }
    : { session: 'opendke-console', login: 'opendke-login', path: '/console', secure };
}

async function seal(key: Uint8Array, purpose: string, claims: JWTPayload, seconds: number): Promise<string> {
  return new EncryptJWT(claims)
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .setAudience(purpose)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .encrypt(key);
}

/** The payload, or undefined for anything that does not decrypt, is expired or is for another purpose. */
async function open(
  key: Uint8Array,
  purpose: string,
  token: string | undefined,
): Promise<JWTPayload | undefined> {
  if (token === undefined || token.length > 8192) return undefined;
  try {
    const { payload } = await jwtDecrypt(token, key, {
      audience: purpose,
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    return payload;
  } catch {
    return undefined;
  }
}

export function sealSession(
  key: Uint8Array,
  session: Omit<ConsoleSession, 'csrf' | 'expiresAt'>,
  seconds: number,
): Promise<string> {
  const claims = {
    ui: session.issuer,
    us: session.subject,
    ...(session.userName === undefined ? {} : { un: session.userName }),
    ro: [...session.roles],
    csrf: randomBytes(32).toString('base64url'),
  };
  return seal(key, SESSION_PURPOSE, claims, seconds);
}

function isRole(value: unknown): value is ConsoleRole {
  return value === 'admin' || value === 'auditor';
}

export async function openSession(
  key: Uint8Array,
  token: string | undefined,
): Promise<ConsoleSession | undefined> {
  const p = await open(key, SESSION_PURPOSE, token);
  if (p === undefined) return undefined;
  const { ui, us, un, ro, csrf, exp } = p;
  if (
    typeof ui !== 'string' ||
    typeof us !== 'string' ||
    typeof csrf !== 'string' ||
    typeof exp !== 'number'
  ) {
    return undefined;
  }
  if (!Array.isArray(ro) || !ro.every(isRole)) return undefined;
  return {
    issuer: ui,
    subject: us,
    ...(typeof un === 'string' ? { userName: un } : {}),
    roles: ro,
    csrf,
    expiresAt: exp,
  };
}

export function sealLoginState(key: Uint8Array, login: LoginState): Promise<string> {
  return seal(
    key,
    LOGIN_PURPOSE,
    { st: login.state, no: login.nonce, ve: login.verifier },
    LOGIN_STATE_SECONDS,
  );
}

export async function openLoginState(
  key: Uint8Array,
  token: string | undefined,
): Promise<LoginState | undefined> {
  const p = await open(key, LOGIN_PURPOSE, token);
  if (p === undefined) return undefined;
  const { st, no, ve } = p;
  if (typeof st !== 'string' || typeof no !== 'string' || typeof ve !== 'string') return undefined;
  return { state: st, nonce: no, verifier: ve };
}
