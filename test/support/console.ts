/**
 * The console's test set-up: a development issuer with a public console client and three users (an admin,
 * an auditor, and one with no console role), a service configuration with the console enabled on a known
 * port (the redirect URI must be registered before the service starts), signing in over plain HTTP the
 * way a browser does (cookies carried by hand), console API calls with that session (cookie, CSRF token,
 * Origin), and the whole of it in one `startConsoleService` with its teardown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { startServer } from '../../src/service/server.js';
import { startTestIssuer, TEST_AUDIENCE, TEST_CLAIMS } from './issuer.js';
import { loginRedirect } from './dev-login.js';
import { openAuditStore } from '../../src/keystore/index.js';
import type { AuditRecord } from '../../src/service/contracts.js';
import { withAuditLog } from './console-transparency.js';
import { freePort } from './free-port.js';
import { readUserNamesFromUpn } from './releases.js';
import { startServerProcess, stopServerProcess } from './server-process.js';

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

export interface ConsoleAnswer<T> {
  readonly status: number;
  /** The JSON body (undefined when there is none). */
  readonly body: T;
  readonly headers: Headers;
}

export interface ConsoleCallOptions {
  readonly body?: unknown;
  /** Added last: they may replace the session's (e.g. a wrong Origin). */
  readonly headers?: Record<string, string> | undefined;
  /** Send the CSRF token and Origin with a change (default true); false to see the check refuse it. */
  readonly csrf?: boolean;
}

/**
 * A console API call as the page makes it: the session cookie, and on a change (not GET) the CSRF token
 * and the console's Origin. Without a session, none of them.
 */
export async function consoleCall<T = Record<string, unknown>>(
  serviceUrl: string,
  origin: string,
  session: HttpSession | undefined,
  method: string,
  url: string,
  options: ConsoleCallOptions = {},
): Promise<ConsoleAnswer<T>> {
  const { body, headers = {}, csrf = true } = options;
  const answer = await fetch(`${serviceUrl}/console/api${url}`, {
    method,
    headers: {
      ...(session === undefined ? {} : { cookie: session.cookie }),
      ...(method === 'GET' || session === undefined || !csrf
        ? {}
        : { 'x-csrf-token': session.csrfToken, origin }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await answer.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new Error(`${method} ${url}: ${answer.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: answer.status, body: parsed as T, headers: answer.headers };
}

export interface ConsoleServiceOptions {
  /** Names the temporary directory: opendke-console-<name>-. */
  readonly name: string;
  /** Run the real `dke serve` as a child process (the browser tests) rather than in this process. */
  readonly childProcess?: boolean;
  /** The config's `audit.log` (checkpoints, witnesses, the fail-closed rule). */
  readonly auditLog?: Record<string, unknown>;
  /** The key API's issuers read user names from `upn` (Microsoft DKE needs one). */
  readonly userNamesFromUpn?: boolean;
  /** Runs once the config is written, before the service starts (e.g. to write history into dke.db). */
  readonly beforeStart?: (dir: string, configFile: string) => void | Promise<void>;
}

export interface ConsoleService {
  /** The temporary directory: the config (dke.json), the database (dke.db), the master key. */
  readonly dir: string;
  readonly configFile: string;
  /** http://localhost:<port>: the public base URL, where a browser goes and what Origin says. */
  readonly origin: string;
  /** http://127.0.0.1:<port>: where the service listens. */
  readonly url: string;
  readonly issuer: DevIssuer;
  signIn(user: TestUser): Promise<HttpSession>;
  call<T = Record<string, unknown>>(
    session: HttpSession | undefined,
    method: string,
    url: string,
    options?: ConsoleCallOptions,
  ): Promise<ConsoleAnswer<T>>;
  /** A change that must succeed (2xx), to set a test up. */
  change(session: HttpSession, method: string, url: string, body?: unknown): Promise<void>;
  /** The store's audit records, oldest first. */
  auditRecords(): Promise<AuditRecord[]>;
  /** Stops the service and the issuer, removes the directory. */
  close(): Promise<void>;
}

/** A service with the console on, its issuer, in a fresh directory on a free port. */
export async function startConsoleService(options: ConsoleServiceOptions): Promise<ConsoleService> {
  const dir = mkdtempSync(path.join(tmpdir(), `opendke-console-${options.name}-`));
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  let issuer: DevIssuer | undefined;
  try {
    issuer = await startConsoleIssuer(origin);
    const configFile = writeConsoleConfig(dir, issuer, port, origin);
    if (options.auditLog !== undefined) withAuditLog(configFile, options.auditLog);
    if (options.userNamesFromUpn === true) readUserNamesFromUpn(configFile);
    await options.beforeStart?.(dir, configFile);
    let url: string;
    let stop: () => Promise<void>;
    if (options.childProcess === true) {
      const child = await startServerProcess(configFile, { cwd: dir });
      url = child.url;
      stop = () => stopServerProcess(child);
    } else {
      const server = await startServer(loadConfig({ file: configFile, env: {} }), {
        logDestination: { write: () => true },
      });
      url = server.url;
      stop = () => server.close();
    }
    const started = issuer;
    return {
      dir,
      configFile,
      origin,
      url,
      issuer: started,
      signIn: (user) => signInOverHttp(url, user),
      call: (session, method, route, callOptions) =>
        consoleCall(url, origin, session, method, route, callOptions),
      async change(session, method, route, body) {
        const answer = await consoleCall(url, origin, session, method, route, { body });
        assert.ok(
          answer.status >= 200 && answer.status < 300,
          `${method} ${route}: ${answer.status} ${JSON.stringify(answer.body)}`,
        );
      },
      auditRecords: () => auditRecordsIn(dir),
      async close() {
        await stop();
        await started.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await issuer?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
