/**
 * The key service configuration file (docs/config.md): its TypeScript shape, defaults and JSON schema.
 * The `auth` section belongs to src/auth and is validated by that module's own schema.
 */
import { MAX_TOKEN_LENGTH } from '../auth/bearer.js';
import type { Pkcs11Config } from '../keystore/backends/pkcs11/config.js';
import { POOL_DEFAULTS, SSL_MODES, type SslMode } from '../store/postgres/connection.js';
import { consoleConfigSchema, type ConsoleConfig } from '../console/config.js';

export type { ConsoleConfig };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface TlsConfig {
  /** PEM certificate chain file. */
  readonly certFile: string;
  /** PEM private key file of the certificate. */
  readonly keyFile: string;
}

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsConfig;
  /** The externally visible base URL (scheme, host, port, optional path), used in MS DKE key ids. */
  readonly publicBaseUrl?: string;
  /** Proxies (IPs or CIDRs) whose X-Forwarded-For/-Proto/-Host headers are believed. */
  readonly trustedProxies: readonly string[];
  /** Largest accepted request body, bytes. */
  readonly bodyLimit: number;
  /** Largest accepted request head (request line and headers), bytes. */
  readonly maxHeaderBytes: number;
  /** Time allowed to receive a whole request (headers and body), ms. */
  readonly requestTimeoutMs: number;
  /** Time an idle keep-alive connection stays open, ms. */
  readonly keepAliveTimeoutMs: number;
  /** Serve `GET /metrics` (Prometheus text format). */
  readonly metrics: boolean;
  readonly authFailureLimit: AuthFailureLimitConfig;
  readonly securityEvents: SecurityEventsConfig;
  /** Server processes sharing the port (node:cluster); `auto`: os.availableParallelism(). 1: no cluster. */
  readonly workers: number | 'auto';
}

/** Per client address: more than `maxFailures` invalid tokens within `windowSeconds` → 429 for `blockSeconds`. */
export interface AuthFailureLimitConfig {
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly blockSeconds: number;
  /** Addresses tracked at once (least recently seen evicted first): bounds the limiter's memory. */
  readonly maxTrackedAddresses: number;
}

/** The security_events table (docs/audit.md): per address, reason and minute, capped in rows and age. */
export interface SecurityEventsConfig {
  readonly maxRows: number;
  readonly maxAgeDays: number;
}

export interface StoreConfig {
  /**
   * Where keys, policies, revocations and the audit log live: a SQLite database file, or a PostgreSQL
   * database as a `postgres://` / `postgresql://` URL (docs/storage.md).
   */
  readonly database: string;
  /** File holding the master key that encrypts private keys at rest. */
  readonly masterKeyFile: string;
  /**
   * `dke serve` only: how long a write (an audit group commit) keeps retrying, without blocking, while
   * another process holds the SQLite write lock, before the requests waiting on it fail 503. ms.
   */
  readonly lockWaitMs: number;
  /** Connection settings used when `database` is a PostgreSQL URL. */
  readonly postgres: PostgresStoreConfig;
}

/** The PostgreSQL backend's pool, TLS and password (docs/storage.md, "The PostgreSQL backend"). */
export interface PostgresStoreConfig {
  readonly maxConnections: number;
  readonly connectionTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  /** Default: verify-full, or disable for a loopback host or unix socket. */
  readonly sslMode?: SslMode;
  readonly caFile?: string;
  readonly passwordFile?: string;
  readonly passwordEnv?: string;
}

export interface LoggingConfig {
  readonly level: LogLevel;
}

/** This service as a C2SP tlog-witness of other logs (docs/audit.md, "Witnessing other logs"). */
export interface WitnessConfig {
  /** The witness key's name, e.g. `<host>/witness`: part of its key ID, fixed once the key exists. */
  readonly name: string;
  /** The logs it witnesses: each origin with the log's Ed25519 note verifier key (named like the origin). */
  readonly logs: readonly { readonly origin: string; readonly vkey: string }[];
}

/** A witness our audit log submits its checkpoints to (C2SP tlog-witness). */
export interface LogWitnessConfig {
  /** Submission prefix: checkpoints are POSTed to `<url>/add-checkpoint`. */
  readonly url: string;
  /** The witness's cosignature/v1 verifier key (`<name>+<key ID>+<base64>`). */
  readonly vkey: string;
}

/** Our own audit log's transparency (docs/audit.md, "Checkpoints"). */
export interface AuditLogConfig {
  /** Checkpoint origin = log key name; default `<host of server.publicBaseUrl, else localhost>/opendke/audit`. */
  readonly origin?: string;
  /** How often a checkpoint is persisted (and submitted) while records arrive, seconds. */
  readonly checkpointIntervalSeconds: number;
  /** Native unwrap answers carry a receipt. */
  readonly receipts: boolean;
  readonly witnesses: readonly LogWitnessConfig[];
  /** Witnesses that must have cosigned for the fail-closed rule; default all of them. */
  readonly quorum?: number;
  /** Set: releases fail closed (503 ERR_NOT_WITNESSED) without a quorum cosignature younger than this. */
  readonly requireCosignatureWithinSeconds?: number;
}

export interface AuditConfig {
  readonly log: AuditLogConfig;
  /** Without it, the service witnesses no log and serves no /witness routes. */
  readonly witness?: WitnessConfig;
}

/** Where private keys may live besides the store (docs/hsm.md). */
export interface KeysConfig {
  readonly backends: {
    /** A PKCS#11 token for keys created with `--backend pkcs11`. */
    readonly pkcs11?: Pkcs11Config;
  };
}

export interface ServiceConfig {
  readonly server: ServerConfig;
  readonly store: StoreConfig;
  readonly keys: KeysConfig;
  readonly audit: AuditConfig;
  /** Passed to src/auth's createAuthenticator; required by `dke serve`, unused by offline CLI commands. */
  readonly auth?: unknown;
  readonly logging: LoggingConfig;
  /** The browser console at /console/ (docs/console.md); off by default. */
  readonly console?: ConsoleConfig;
}

export const DEFAULTS = {
  server: {
    host: '127.0.0.1',
    port: 8443,
    trustedProxies: [],
    bodyLimit: 64 * 1024,
    maxHeaderBytes: 32 * 1024,
    requestTimeoutMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    metrics: true,
    authFailureLimit: { maxFailures: 20, windowSeconds: 60, blockSeconds: 300, maxTrackedAddresses: 10_000 },
    securityEvents: { maxRows: 10_000, maxAgeDays: 30 },
    workers: 1,
  },
  store: { database: 'opendke.db', masterKeyFile: 'master.key', lockWaitMs: 5_000, postgres: POOL_DEFAULTS },
  logging: { level: 'info' },
  audit: { log: { checkpointIntervalSeconds: 5, receipts: true, witnesses: [] } },
} as const;

/** More server processes than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(minimum: number, maximum: number, defaultValue: number): object {
  return { type: 'integer', minimum, maximum, default: defaultValue };
}

/** JSON schema of the file after defaults are applied (ajv `useDefaults`). */
export function configSchema(authSchema: object): object {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      server: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          host: { type: 'string', minLength: 1, default: DEFAULTS.server.host },
          port: { type: 'integer', minimum: 0, maximum: 65535, default: DEFAULTS.server.port },
          tls: {
            type: 'object',
            additionalProperties: false,
            required: ['certFile', 'keyFile'],
            properties: {
              certFile: { type: 'string', minLength: 1 },
              keyFile: { type: 'string', minLength: 1 },
            },
          },
          publicBaseUrl: { type: 'string', pattern: '^https?://[^/?#@\\s]+(/[^?#\\s]*)?$' },
          trustedProxies: {
            type: 'array',
            items: { type: 'string', minLength: 1 },
            default: [],
          },
          bodyLimit: { type: 'integer', minimum: 1024, maximum: 1048576, default: DEFAULTS.server.bodyLimit },
          // At least a token of MAX_TOKEN_LENGTH plus 4 KiB of other headers: a large token must reach the
          // authenticator (401 "token too large"), not the HTTP parser's limit first.
          maxHeaderBytes: {
            type: 'integer',
            minimum: MAX_TOKEN_LENGTH + 4096,
            maximum: 65536,
            default: DEFAULTS.server.maxHeaderBytes,
          },
          requestTimeoutMs: {
            type: 'integer',
            minimum: 100,
            maximum: 300000,
            default: DEFAULTS.server.requestTimeoutMs,
          },
          keepAliveTimeoutMs: {
            type: 'integer',
            minimum: 100,
            maximum: 300000,
            default: DEFAULTS.server.keepAliveTimeoutMs,
          },
          metrics: { type: 'boolean', default: DEFAULTS.server.metrics },
          authFailureLimit: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              maxFailures: integer(1, 100_000, DEFAULTS.server.authFailureLimit.maxFailures),
              windowSeconds: integer(1, 86_400, DEFAULTS.server.authFailureLimit.windowSeconds),
              blockSeconds: integer(1, 86_400, DEFAULTS.server.authFailureLimit.blockSeconds),
              maxTrackedAddresses: integer(
                100,
                1_000_000,
                DEFAULTS.server.authFailureLimit.maxTrackedAddresses,
              ),
            },
          },
          securityEvents: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              maxRows: integer(10, 1_000_000, DEFAULTS.server.securityEvents.maxRows),
              maxAgeDays: integer(1, 3650, DEFAULTS.server.securityEvents.maxAgeDays),
            },
          },
          workers: {
            anyOf: [
              { type: 'integer', minimum: 1, maximum: MAX_WORKERS },
              { type: 'string', const: 'auto' },
            ],
            default: DEFAULTS.server.workers,
          },
        },
      },
      store: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          database: { type: 'string', minLength: 1, default: DEFAULTS.store.database },
          masterKeyFile: { type: 'string', minLength: 1, default: DEFAULTS.store.masterKeyFile },
          lockWaitMs: { type: 'integer', minimum: 0, maximum: 60_000, default: DEFAULTS.store.lockWaitMs },
          postgres: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              maxConnections: integer(1, 1000, POOL_DEFAULTS.maxConnections),
              connectionTimeoutMs: integer(100, 600_000, POOL_DEFAULTS.connectionTimeoutMs),
              idleTimeoutMs: integer(100, 3_600_000, POOL_DEFAULTS.idleTimeoutMs),
              statementTimeoutMs: integer(100, 600_000, POOL_DEFAULTS.statementTimeoutMs),
              lockTimeoutMs: integer(1, 600_000, POOL_DEFAULTS.lockTimeoutMs),
              sslMode: { type: 'string', enum: SSL_MODES },
              caFile: { type: 'string', minLength: 1 },
              passwordFile: { type: 'string', minLength: 1 },
              passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
            },
          },
        },
      },
      keys: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          backends: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              pkcs11: {
                type: 'object',
                additionalProperties: false,
                required: ['module', 'tokenLabel'],
                properties: {
                  module: { type: 'string', minLength: 1 },
                  tokenLabel: { type: 'string', minLength: 1, maxLength: 32 },
                  pinFile: { type: 'string', minLength: 1 },
                  pinEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                  sessions: integer(1, 64, 4),
                  libraryParameters: { type: 'string', minLength: 1 },
                  acquireTimeoutMs: { type: 'integer', minimum: 1, maximum: 300_000 },
                },
              },
            },
          },
        },
      },
      auth: authSchema,
      console: consoleConfigSchema,
      audit: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          log: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              // A note key name: printable ASCII without spaces or '+' (c2sp.org/signed-note).
              origin: { type: 'string', pattern: '^[!-*,-~]{1,256}$' },
              checkpointIntervalSeconds: integer(1, 3600, DEFAULTS.audit.log.checkpointIntervalSeconds),
              receipts: { type: 'boolean', default: DEFAULTS.audit.log.receipts },
              witnesses: {
                type: 'array',
                maxItems: 32,
                default: [],
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['url', 'vkey'],
                  properties: {
                    url: { type: 'string', pattern: '^https?://[^?#@\\s]+$' },
                    vkey: { type: 'string', minLength: 1, maxLength: 1024 },
                  },
                },
              },
              quorum: { type: 'integer', minimum: 1, maximum: 32 },
              requireCosignatureWithinSeconds: { type: 'integer', minimum: 1, maximum: 31_536_000 },
            },
          },
          witness: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'logs'],
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 256 },
              logs: {
                type: 'array',
                maxItems: 1000,
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['origin', 'vkey'],
                  properties: {
                    origin: { type: 'string', minLength: 1, maxLength: 256 },
                    vkey: { type: 'string', minLength: 1, maxLength: 1024 },
                  },
                },
              },
            },
          },
        },
      },
      logging: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: { level: { enum: LOG_LEVELS, default: DEFAULTS.logging.level } },
      },
    },
  };
}
