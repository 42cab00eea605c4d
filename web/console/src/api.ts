/** The console's JSON API (docs/console.md): same origin, session cookie, CSRF token on every change. */

export type Role = 'admin' | 'auditor';

export interface SessionInfo {
  readonly user: { readonly issuer: string; readonly subject: string; readonly userName?: string };
  readonly roles: readonly Role[];
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** The Keys page's data: the back end's own types, type-only (src/console/keys-api.ts). */
export type { KeyPolicy as Policy } from '../../../src/service/contracts.js';
export type { KeyView } from '../../../src/console/keys-api.js';
import type { KeyPolicy as Policy } from '../../../src/service/contracts.js';
import type { KeyView } from '../../../src/console/keys-api.js';

/** An error answer of the API: its registry code and public message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** An error as a page shows it: the public message and its code. */
export function describeError(error: unknown): string {
  return error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
}

let csrfToken = '';

/**
 * One call of the console API (`path` under /console/api): JSON in and out, the CSRF token on every change.
 * Pages with endpoints of their own call it from their module; it throws ApiError for an error answer.
 */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const answer = await fetch(`/console/api${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!answer.ok) throw await apiErrorOf(answer);
  return (await answer.json().catch(() => ({}))) as T;
}

/** The ApiError of an error answer: its registry code and public message, or the HTTP status. */
export async function apiErrorOf(answer: Response): Promise<ApiError> {
  const json = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
  const code = typeof json.error === 'string' ? json.error : `HTTP ${answer.status}`;
  const message = typeof json.message === 'string' ? json.message : answer.statusText;
  return new ApiError(answer.status, code, message);
}

/** The signed-in user, or undefined when nobody is signed in. */
export async function loadSession(): Promise<SessionInfo | undefined> {
  try {
    const session = await call<SessionInfo>('GET', '/session');
    csrfToken = session.csrfToken;
    return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    throw error;
  }
}

const key = (name: string): string => `/keys/${encodeURIComponent(name)}`;

export const api = {
  signOut: (): Promise<unknown> => call<unknown>('POST', '/logout'),
  listKeys: (): Promise<{ keys: KeyView[] }> => call<{ keys: KeyView[] }>('GET', '/keys'),
  createKey: (name: string, protocol: string): Promise<KeyView> =>
    call<KeyView>('POST', '/keys', { name, protocol }),
  rotate: (name: string): Promise<KeyView> => call<KeyView>('POST', `${key(name)}/rotate`),
  setEnabled: (name: string, enabled: boolean): Promise<KeyView> =>
    call<KeyView>('POST', `${key(name)}/${enabled ? 'enable' : 'disable'}`),
  setPolicy: (name: string, policy: Policy): Promise<KeyView> =>
    call<KeyView>('PUT', `${key(name)}/policy`, policy),
  revoke: (name: string, objectId: string): Promise<{ changed: boolean }> =>
    call<{ changed: boolean }>('PUT', `${key(name)}/revocations/${encodeURIComponent(objectId)}`),
  destroy: (name: string, confirm: string): Promise<KeyView> =>
    call<KeyView>('POST', `${key(name)}/destroy`, { confirm }),
};
