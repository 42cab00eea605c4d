/**
 * From a `postgres://` URL and the store options to a node-postgres pool configuration: pool bounds and
 * timeouts, TLS (`sslMode`), and the password from a file or an environment variable, so it need not sit in
 * the URL or the config file (docs/storage.md, "The PostgreSQL backend").
 */
import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { DkeError } from '../../errors/index.js';

export type SslMode = 'disable' | 'require' | 'verify-full';
export const SSL_MODES: readonly SslMode[] = ['disable', 'require', 'verify-full'];

export interface PostgresConnectionOptions {
  /** Connections in the pool, at most; default 10. */
  readonly maxConnections?: number;
  /** How long a call waits for a connection (a new one, or a free one of a full pool); default 5000 ms. */
  readonly connectionTimeoutMs?: number;
  /** An idle connection is closed after this long; default 30000 ms. */
  readonly idleTimeoutMs?: number;
  /** Server-side `statement_timeout`; the client gives up 1 s later (dead network). Default 15000 ms. */
  readonly statementTimeoutMs?: number;
  /** Server-side `lock_timeout`: a call waiting longer for a row lock fails ERR_STORE_BUSY; default 5000 ms. */
  readonly lockTimeoutMs?: number;
  /**
   * `disable`: plain TCP; `require`: TLS without checking the certificate (protects against passive
   * listeners only); `verify-full`: TLS, certificate chain (system roots, or `caFile`) and host name checked.
   * Default: `verify-full`, except `disable` for a loopback address or a unix socket. A `sslmode` parameter
   * in the URL is used when this is not set.
   */
  readonly sslMode?: SslMode;
  /** PEM file of the CA(s) that issued the server's certificate (verify-full). */
  readonly caFile?: string;
  /** File holding the password (first line); read for each new connection, so it can be rotated. */
  readonly passwordFile?: string;
  /** Environment variable holding the password, read for each new connection. */
  readonly passwordEnv?: string;
  /** `application_name` in pg_stat_activity; default `opendke`. */
  readonly applicationName?: string;
}

export const POOL_DEFAULTS = {
  maxConnections: 10,
  connectionTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  statementTimeoutMs: 15_000,
  lockTimeoutMs: 5_000,
} as const;

/** Client-side margin over statement_timeout before a query on a dead connection is abandoned. */
const QUERY_TIMEOUT_MARGIN_MS = 1_000;

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

function invalid(message: string, detail?: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', {
    message,
    ...(detail === undefined ? {} : { detail }),
    hint: 'see docs/storage.md, "The PostgreSQL backend"',
  });
}

/** The URL without its password, for logs and status output. */
export function redactPostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

interface ParsedUrl {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly sslMode: SslMode | undefined;
}

/** URL parameters we understand; anything else is refused rather than silently ignored. */
const URL_PARAMETERS = new Set(['sslmode', 'host']);

function parseUrl(url: string): ParsedUrl {
  if (!isPostgresUrl(url)) throw invalid('a PostgreSQL store URL starts with postgres:// or postgresql://');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('the PostgreSQL store URL is not a valid URL');
  }
  for (const name of parsed.searchParams.keys()) {
    if (!URL_PARAMETERS.has(name)) {
      throw invalid(
        `the PostgreSQL store URL has an unsupported parameter '${name}' (supported: sslmode, host)`,
      );
    }
  }
  const sslParam = parsed.searchParams.get('sslmode');
  if (sslParam !== null && !SSL_MODES.includes(sslParam as SslMode)) {
    throw invalid(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  }
  // `?host=/path` names a unix socket directory (as libpq does); otherwise the URL's host.
  const host = parsed.searchParams.get('host') ?? decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, ''));
  if (host === '') throw invalid('the PostgreSQL store URL names no host');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) throw invalid('the PostgreSQL store URL names no database');
  return {
    host,
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    database,
    user: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    sslMode: (sslParam ?? undefined) as SslMode | undefined,
  };
}

function isLocal(host: string): boolean {
  return host.startsWith('/') || host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function tlsOptions(mode: SslMode, host: string, caFile: string | undefined): false | ConnectionOptions {
  if (mode === 'disable') {
    if (caFile !== undefined) throw invalid('caFile needs sslMode verify-full');
    return false;
  }
  if (mode === 'require') {
    if (caFile !== undefined)
      throw invalid('caFile needs sslMode verify-full (require does not check certificates)');
    return { rejectUnauthorized: false };
  }
  if (host.startsWith('/')) throw invalid('sslMode verify-full needs a host name, not a unix socket');
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = fs.readFileSync(caFile, 'utf8');
    } catch (error) {
      throw invalid('cannot read the PostgreSQL CA file', `${caFile}: ${(error as Error).message}`);
    }
  }
  // Node checks the chain against `ca` (or its built-in roots) and the host name or IP address against the
  // certificate (checkServerIdentity; node-postgres passes the host, and SNI for names only).
  return { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) };
}

function readPasswordFile(file: string): string {
  try {
    const password = fs.readFileSync(file, 'utf8').split(/\r?\n/, 1)[0] ?? '';
    if (password === '') throw new Error('the file is empty');
    return password;
  } catch (error) {
    throw invalid('cannot read the PostgreSQL password file', `${file}: ${(error as Error).message}`);
  }
}

function readPasswordEnv(name: string): string {
  const password = process.env[name];
  if (password === undefined || password === '') {
    throw invalid(`the environment variable ${name} (the PostgreSQL password) is not set`);
  }
  return password;
}

/** The password source: at most one of URL, file, environment; none means the server needs none. */
function passwordSource(
  inUrl: string | undefined,
  options: PostgresConnectionOptions,
): string | (() => Promise<string>) | undefined {
  const sources = [inUrl, options.passwordFile, options.passwordEnv].filter((s) => s !== undefined);
  if (sources.length > 1) {
    throw invalid('give the PostgreSQL password in one place only: the URL, passwordFile or passwordEnv');
  }
  const { passwordFile, passwordEnv } = options;
  if (passwordFile !== undefined) {
    readPasswordFile(passwordFile); // fail at open, not at the first connection
    return () => Promise.resolve(readPasswordFile(passwordFile));
  }
  if (passwordEnv !== undefined) {
    readPasswordEnv(passwordEnv);
    return () => Promise.resolve(readPasswordEnv(passwordEnv));
  }
  return inUrl;
}

function bounded(
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  name: string,
): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < min || chosen > max) {
    throw invalid(`${name} must be a whole number from ${min} to ${max}`);
  }
  return chosen;
}

/** int8 (BIGINT, count(*)) as a JS number: seq and sizes stay below 2^53; anything else is refused. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`integer ${text} is beyond 2^53`);
  return value;
}

/** The int8 type's OID (pg_type). */
const INT8_OID = 20;

function getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID && format !== 'binary') return parseInt8;
  return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
}

/** The pool's type parsers: node-postgres' own, but int8 as a number (it defaults to a string). */
const typeParsers = { getTypeParser };

export interface PoolSettings {
  readonly config: pg.PoolConfig;
  readonly host: string;
  readonly database: string;
  readonly sslMode: SslMode;
}

export function poolSettings(url: string, options: PostgresConnectionOptions = {}): PoolSettings {
  const parsed = parseUrl(url);
  if (options.sslMode !== undefined && !SSL_MODES.includes(options.sslMode)) {
    throw invalid(`sslMode must be one of ${SSL_MODES.join(', ')}`);
  }
  if (options.sslMode !== undefined && parsed.sslMode !== undefined && options.sslMode !== parsed.sslMode) {
    throw invalid(`sslMode ${options.sslMode} contradicts sslmode=${parsed.sslMode} in the URL`);
  }
  const sslMode = options.sslMode ?? parsed.sslMode ?? (isLocal(parsed.host) ? 'disable' : 'verify-full');
  const statementTimeoutMs = bounded(
    options.statementTimeoutMs,
    POOL_DEFAULTS.statementTimeoutMs,
    100,
    600_000,
    'statementTimeoutMs',
  );
  const password = passwordSource(parsed.password, options);
  const config: pg.PoolConfig = {
    host: parsed.host,
    port: parsed.port,
    database: parsed.database,
    ...(parsed.user === undefined ? {} : { user: parsed.user }),
    ...(password === undefined ? {} : { password }),
    ssl: tlsOptions(sslMode, parsed.host, options.caFile),
    max: bounded(options.maxConnections, POOL_DEFAULTS.maxConnections, 1, 1000, 'maxConnections'),
    connectionTimeoutMillis: bounded(
      options.connectionTimeoutMs,
      POOL_DEFAULTS.connectionTimeoutMs,
      100,
      600_000,
      'connectionTimeoutMs',
    ),
    idleTimeoutMillis: bounded(
      options.idleTimeoutMs,
      POOL_DEFAULTS.idleTimeoutMs,
      100,
      3_600_000,
      'idleTimeoutMs',
    ),
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    lock_timeout: bounded(options.lockTimeoutMs, POOL_DEFAULTS.lockTimeoutMs, 1, 600_000, 'lockTimeoutMs'),
    // A session of ours never idles inside a transaction; if one does (a hung process), release its locks.
    idle_in_transaction_session_timeout: Math.max(60_000, statementTimeoutMs * 2),
    // A commit must be on disk before it is acknowledged (an answer is sent only after its audit record is
    // durable), whatever synchronous_commit the server, database or role defaults to.
    options: '-c synchronous_commit=on',
    application_name: options.applicationName ?? 'opendke',
    keepAlive: true,
    types: typeParsers,
  };
  return { config, host: parsed.host, database: parsed.database, sslMode };
}
