/**
 * The console's test set-up: a development issuer with a public console client and three users (an admin,
 * an auditor, and one with no console role), a service configuration with the console enabled on a known
 * port (the redirect URI must be registered before the service starts), and signing in over plain HTTP the
 * way a browser does (cookies carried by hand).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { startTestIssuer, TEST_AUDIENCE, TEST_CLAIMS } from './issuer.js';
import { loginRedirect } from './dev-login.js';
import { openAuditStore } from '../../src/keystore/index.js';
import type { AuditRecord } from '../../src/service/contracts.js';

export const CONSOLE_CLIENT = 'opendke-console';
export const USERS = {
  admin: {
    username: 'ada',
    password: 'ada-password',
    claims: { preferred_username: 'ada@example.test', roles: ['opendke-admin'] },
  },
  auditor: {
    username: 'audrey',
    password: 'audrey-password',
    claims: { preferred_username: 'audrey@example.test', roles: ['opendke-auditor'] },
  },
  nobody: {
    username: 'nemo',
    password: 'nemo-password',
    claims: { preferred_username: 'nemo@example.test' },
  },
} as const;
export type TestUser = keyof typeof USERS;

/** The issuer the console signs in with, its client registered for `publicBaseUrl`'s callback. */
export function startConsoleIssuer(publicBaseUrl: string): Promise<DevIssuer> {
  return startTestIssuer({
    clients: [{ clientId: CONSOLE_CLIENT, redirectUris: [`${publicBaseUrl}/console/callback`] }],
    users: Object.values(USERS),
  });
}

/** Writes a service config with the console on; returns its path. */
export function writeConsoleConfig(
  dir: string,
  issuer: DevIssuer,
  port: number,
  publicBaseUrl: string,
): string {
  const file = path.join(dir, 'dke.json');
  const config = {
    server: { host: '127.0.0.1', port, publicBaseUrl },
    store: { database: path.join(dir, 'dke.db'), masterKeyFile: path.join(dir, 'master.key') },
    // TEST_CLAIMS: unwraps with tokens of this issuer carry a user name (policies and audit records).
    auth: {
      audience: TEST_AUDIENCE,
      issuers: [{ issuer: issuer.issuer, algorithms: [issuer.alg], ...TEST_CLAIMS }],
    },
    console: {
      enabled: true,
      issuer: issuer.issuer,
      clientId: CONSOLE_CLIENT,
      adminValues: ['opendke-admin'],
      auditorValues: ['opendke-auditor'],
    },
    logging: { level: 'warn' },
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** `name=value` of a Set-Cookie header naming `name`. */
function cookieFrom(response: Response, name: string): string | undefined {
  for (const header of response.headers.getSetCookie()) {
    const pair = header.split(';')[0] ?? '';
    if (pair.startsWith(`${name}=`) && pair.length > name.length + 1) return pair;
  }
  return undefined;
}

export interface HttpSession {
  /** The Cookie header value carrying the session. */
  readonly cookie: string;
  readonly csrfToken: string;
}

/** Signs `user` in through /console/login, the issuer's form and /console/callback. */
export async function signInOverHttp(serviceUrl: string, user: TestUser): Promise<HttpSession> {
  const start = await fetch(`${serviceUrl}/console/login`, { redirect: 'manual' });
  assert.equal(start.status, 302);
  const login = cookieFrom(start, 'opendke-login');
  assert.ok(login !== undefined, 'login-state cookie set');
  const { username, password } = USERS[user];
  const callback = await loginRedirect(start.headers.get('location') ?? '', username, password);
  const finish = await fetch(`${serviceUrl}${callback.pathname}${callback.search}`, {
    redirect: 'manual',
    headers: { cookie: login },
  });
  assert.equal(finish.status, 200, await finish.clone().text());
  const cookie = cookieFrom(finish, 'opendke-console');
  assert.ok(cookie !== undefined, 'session cookie set');
  const session = await fetch(`${serviceUrl}/console/api/session`, { headers: { cookie } });
  assert.equal(session.status, 200);
  const { csrfToken } = (await session.json()) as { csrfToken: string };
  return { cookie, csrfToken };
}

/** The audit records of the store in `dir` (dke.db), oldest first (the query answers newest first). */
export async function auditRecordsIn(dir: string): Promise<AuditRecord[]> {
  const store = await openAuditStore({ dbPath: path.join(dir, 'dke.db') });
  try {
    return (await store.audit.query({ limit: 10_000 })).sort((a, b) => a.seq - b.seq);
  } finally {
    await store.close();
  }
}
