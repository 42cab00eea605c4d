/**
 * Loads the key service configuration: file (YAML or JSON) → DKE_* environment overrides → defaults →
 * JSON-schema validation. Errors are ERR_CONFIG_INVALID naming the field, e.g. `server.port must be integer`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { DkeError } from '../errors/index.js';
import { authConfigSchema } from '../auth/config.js';
import { validatePkcs11Config } from '../keystore/backends/pkcs11/config.js';
import { checkAuditLogConfig } from './audit-log.js';
import { applyEnvOverrides } from './env.js';
import { MAX_WORKERS, configSchema, type ServiceConfig } from './schema.js';
import { checkWitnessConfig } from '../witness/witness.js';
import { isPostgresUrl } from '../store/postgres/connection.js';
import { checkConsoleConfig } from '../console/config.js';

export interface LoadConfigOptions {
  /** Config file; without it only defaults and the environment apply. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** JSON schema of the `auth` section; default src/auth's. */
  readonly authSchema?: object;
}

function invalid(message: string, detail?: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', {
    message: `invalid configuration: ${message}`,
    ...(detail === undefined ? {} : { detail }),
    hint: 'see docs/config.md',
  });
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: `cannot read config file ${file}`,
      detail: cause instanceof Error ? cause.message : String(cause),
      cause,
    });
  }
  let value: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both.
    value = parseYaml(text);
  } catch (cause) {
    throw invalid(`${file} is not valid YAML or JSON`, cause instanceof Error ? cause.message : undefined);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('the file must hold an object');
  return value as Record<string, unknown>;
}

function fieldOf(error: ErrorObject): string {
  const base = error.instancePath.split('/').slice(1).join('.');
  const params = error.params as Record<string, unknown>;
  const child = (name: unknown): string => (base === '' ? String(name) : `${base}.${String(name)}`);
  if (error.keyword === 'required') return child(params.missingProperty);
  if (error.keyword === 'additionalProperties') return child(params.additionalProperty);
  return base === '' ? 'config' : base;
}

/** What a field with alternatives (`anyOf`) accepts; its per-alternative errors are left out. */
const ALTERNATIVES: Readonly<Record<string, string>> = {
  'server.workers': `must be an integer from 1 to ${MAX_WORKERS} or "auto"`,
};

/** Errors of an `anyOf`'s alternatives say nothing useful one by one: only the `anyOf` error is kept. */
function withoutAlternatives(errors: readonly ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  return errors.filter((e) => e.keyword === 'anyOf' || !anyOfPaths.has(e.instancePath));
}

function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'anyOf':
      return ALTERNATIVES[fieldOf(error)] ?? 'is invalid';
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known field';
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'pattern':
      return 'has an invalid format';
    default:
      return error.message ?? 'is invalid';
  }
}

/** Relative paths in the file are relative to the file; relative paths from the environment to the cwd. */
function resolvePaths(config: ServiceConfig, baseDir: string, fromEnv: Map<string, string>): ServiceConfig {
  const resolve = (field: string, value: string): string =>
    path.resolve(fromEnv.has(field) ? process.cwd() : baseDir, value);
  const { server, store } = config;
  const pkcs11 = config.keys.backends.pkcs11;
  return {
    ...config,
    keys: {
      backends: {
        ...(pkcs11 === undefined
          ? {}
          : {
              pkcs11: {
                ...pkcs11,
                // A bare library name is left to the dynamic loader's search path.
                module: pkcs11.module.includes('/')
                  ? resolve('keys.backends.pkcs11.module', pkcs11.module)
                  : pkcs11.module,
                ...(pkcs11.pinFile === undefined
                  ? {}
                  : { pinFile: resolve('keys.backends.pkcs11.pinFile', pkcs11.pinFile) }),
              },
            }),
      },
    },
    ...(config.console === undefined
      ? {}
      : {
          console: {
            ...config.console,
            ...(config.console.clientSecretFile === undefined
              ? {}
              : { clientSecretFile: path.resolve(baseDir, config.console.clientSecretFile) }),
          },
        }),
    server: {
      ...server,
      ...(server.tls === undefined
        ? {}
        : {
            tls: {
              certFile: resolve('server.tls.certFile', server.tls.certFile),
              keyFile: resolve('server.tls.keyFile', server.tls.keyFile),
            },
          }),
    },
    store: {
      // A PostgreSQL URL is not a path.
      database: isPostgresUrl(store.database) ? store.database : resolve('store.database', store.database),
      masterKeyFile: resolve('store.masterKeyFile', store.masterKeyFile),
      lockWaitMs: store.lockWaitMs,
      postgres: {
        ...store.postgres,
        ...(store.postgres.caFile === undefined
          ? {}
          : { caFile: path.resolve(baseDir, store.postgres.caFile) }),
        ...(store.postgres.passwordFile === undefined
          ? {}
          : { passwordFile: path.resolve(baseDir, store.postgres.passwordFile) }),
      },
    },
  };
}

export function loadConfig(options: LoadConfigOptions = {}): ServiceConfig {
  const raw = options.file === undefined ? {} : readFile(options.file);
  const fromEnv = applyEnvOverrides(raw, options.env ?? process.env);
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
  const validate = ajv.compile<ServiceConfig>(configSchema(options.authSchema ?? authConfigSchema));
  if (!validate(raw)) {
    const messages = withoutAlternatives(validate.errors ?? [])
      .slice(0, 5)
      .map((error) => {
        const field = fieldOf(error);
        const source = fromEnv.get(field);
        return `${field} ${describe(error)}${source === undefined ? '' : ` (from ${source})`}`;
      });
    throw invalid(messages.join('; '));
  }
  checkAuditLogConfig(raw.audit.log);
  if (raw.keys.backends.pkcs11 !== undefined) validatePkcs11Config(raw.keys.backends.pkcs11);
  if (raw.audit.witness !== undefined) checkWitnessConfig(raw.audit.witness);
  if (raw.console !== undefined) checkConsoleConfig(raw.console, raw.server.publicBaseUrl);
  const baseDir = options.file === undefined ? process.cwd() : path.dirname(path.resolve(options.file));
  return resolvePaths(raw, baseDir, fromEnv);
}
