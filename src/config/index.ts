export { loadConfig, type LoadConfigOptions } from './load.js';
export { ENV_OVERRIDES, type EnvOverride } from './env.js';
export {
  DEFAULTS,
  configSchema,
  type ServiceConfig,
  type AuditConfig,
  type AuditLogConfig,
  type LogWitnessConfig,
  type ServerConfig,
  type StoreConfig,
  type KeysConfig,
  type AuthFailureLimitConfig,
  type SecurityEventsConfig,
  type TlsConfig,
  type LoggingConfig,
  type LogLevel,
} from './schema.js';
export { resolveServiceParts, resolveStoreConfig, type StoreFlags } from './store-options.js';
export { auditLogOrigin, checkAuditLogConfig } from './audit-log.js';
