/**
 * Environment overrides (docs/config.md). Each DKE_* variable replaces one field of the file, so a
 * container can keep one file and change the listen address, paths or log level per deployment.
 */

export interface EnvOverride {
  readonly variable: string;
  /** Path of the field in the config object. */
  readonly path: readonly string[];
  readonly kind: 'string' | 'integer' | 'boolean' | 'list';
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { variable: 'DKE_HOST', path: ['server', 'host'], kind: 'string' },
  { variable: 'DKE_PORT', path: ['server', 'port'], kind: 'integer' },
  { variable: 'DKE_PUBLIC_BASE_URL', path: ['server', 'publicBaseUrl'], kind: 'string' },
  { variable: 'DKE_TRUSTED_PROXIES', path: ['server', 'trustedProxies'], kind: 'list' },
  { variable: 'DKE_TLS_CERT_FILE', path: ['server', 'tls', 'certFile'], kind: 'string' },
  { variable: 'DKE_TLS_KEY_FILE', path: ['server', 'tls', 'keyFile'], kind: 'string' },
  { variable: 'DKE_BODY_LIMIT', path: ['server', 'bodyLimit'], kind: 'integer' },
  { variable: 'DKE_REQUEST_TIMEOUT_MS', path: ['server', 'requestTimeoutMs'], kind: 'integer' },
  // `auto` is not an integer: passed through as text, which the schema accepts.
  { variable: 'DKE_WORKERS', path: ['server', 'workers'], kind: 'integer' },
  { variable: 'DKE_METRICS', path: ['server', 'metrics'], kind: 'boolean' },
  { variable: 'DKE_DATABASE', path: ['store', 'database'], kind: 'string' },
  { variable: 'DKE_MASTER_KEY_FILE', path: ['store', 'masterKeyFile'], kind: 'string' },
  { variable: 'DKE_LOG_LEVEL', path: ['logging', 'level'], kind: 'string' },
];

/** A value that does not parse is passed through as a string, so the schema names the field that is wrong. */
function parse(kind: EnvOverride['kind'], raw: string): unknown {
  const text = raw.trim();
  switch (kind) {
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : text;
    case 'boolean':
      return text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text;
    case 'list':
      return text === '' ? [] : text.split(',').map((entry) => entry.trim());
    default:
      return text;
  }
}

/**
 * Writes every set DKE_* variable into `config` (a plain object parsed from the file) and returns which
 * fields came from the environment, keyed by dotted path, for error messages.
 */
export function applyEnvOverrides(
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Map<string, string> {
  const sources = new Map<string, string>();
  for (const { variable, path, kind } of ENV_OVERRIDES) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    let node = config;
    for (const segment of path.slice(0, -1)) {
      const next = node[segment];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[segment] = {};
      node = node[segment] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = parse(kind, raw);
    sources.set(path.join('.'), variable);
  }
  return sources;
}
