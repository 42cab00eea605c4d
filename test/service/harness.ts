/**
 * A real key service for tests: a development OIDC issuer on loopback, a temp directory with a SQLite store
 * and master key file, and `startServer` listening on 127.0.0.1:0 with a real config. Requests go over
 * real HTTP (fetch). Log lines are captured so tests can check what was (not) logged.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DevIssuer, DevClient } from '../../src/devissuer/index.js';
import type { IssuerConfig } from '../../src/auth/index.js';
import { loadConfig, type ServiceConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/service/server.js';
import { loadMasterKey, openKeyService, type KeyService } from '../../src/keystore/index.js';
import {
  authConfigFor,
  issuerConfigFor,
  startTestIssuer,
  TEST_AUDIENCE,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';

export const ADMIN_ROLE = 'dke-admin';
export const AUTHORITY = 'https://login.example.test/tenant';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

/** A fetch response read in full: status, headers, text, and the JSON body when it is JSON. */
export async function answerOf(response: Response): Promise<HttpAnswer> {
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent verbatim (no JSON encoding). */
  readonly rawBody?: string;
  readonly token?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One request to a server at `baseUrl`, read in full (a JSON body is encoded, a token sent as Bearer). */
export async function requestAt(
  baseUrl: string,
  method: string,
  urlPath: string,
  { body, rawBody, token, headers }: RequestOptions = {},
): Promise<HttpAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  const h = init.headers as Record<string, string>;
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  if (rawBody !== undefined) init.body = rawBody;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  return answerOf(await fetch(baseUrl + urlPath, init));
}

export interface Harness {
  readonly dir: string;
  readonly configFile: string;
  readonly issuer: DevIssuer;
  server: RunningServer;
  readonly logs: string[];
  readonly config: ServiceConfig;
  /** A valid user token with these claims (sub user-1 unless given). */
  token(claims?: Readonly<Record<string, unknown>>): Promise<string>;
  adminToken(): Promise<string>;
  request(method: string, urlPath: string, options?: RequestOptions): Promise<HttpAnswer>;
  /** Opens the same store the way the CLI does (a second connection beside the server). */
  openStore(): Promise<KeyService>;
  /** Stops the server and starts a new one on the same files. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra `server` config fields. */
  readonly server?: Readonly<Record<string, unknown>>;
  /** Extra `store` config fields. */
  readonly store?: Readonly<Record<string, unknown>>;
  /** The `audit` config section. */
  readonly audit?: Readonly<Record<string, unknown>>;
  readonly clients?: readonly DevClient[];
  /** The `auth.issuers` list, given the harness's issuer; default: that issuer with the test claims. */
  readonly issuers?: (issuer: DevIssuer) => readonly IssuerConfig[];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dke-svc-'));
  const issuer = await startTestIssuer({ clients: options.clients ?? [] });
  const configFile = path.join(dir, 'dke.json');
  const issuers = options.issuers?.(issuer) ?? [
    issuerConfigFor(issuer, { ...TEST_CLAIMS, adminRoles: [ADMIN_ROLE] }),
  ];
  const auth = authConfigFor(issuers, { challenge: { authority: AUTHORITY } });
  writeFileSync(
    configFile,
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0, ...options.server },
      store: { database: 'dke.db', masterKeyFile: 'master.key', ...options.store },
      auth,
      logging: { level: 'info' },
      ...(options.audit === undefined ? {} : { audit: options.audit }),
    }),
  );
  const config = loadConfig({ file: configFile, env: {} });
  const logs: string[] = [];
  const logDestination = { write: (line: string) => void logs.push(line) };
  const start = (): Promise<RunningServer> => startServer(config, { logDestination, env: {} });

  const harness: Harness = {
    dir,
    configFile,
    issuer,
    server: await start(),
    logs,
    config,
    token: (claims = {}) => validToken(issuer, claims),
    adminToken: () => validToken(issuer, { sub: 'admin-1', upn: 'admin@example.test', roles: [ADMIN_ROLE] }),
    request: (method, urlPath, options) => requestAt(harness.server.url, method, urlPath, options),
    openStore() {
      const { masterKey } = loadMasterKey({ file: config.store.masterKeyFile, env: {} });
      return openKeyService({ dbPath: config.store.database, masterKey });
    },
    async restart() {
      await harness.server.close();
      harness.server = await start();
    },
    async close() {
      await harness.server.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

export { TEST_AUDIENCE };
