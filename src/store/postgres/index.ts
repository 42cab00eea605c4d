/** The PostgreSQL backend of the storage adapter (docs/storage.md, "The PostgreSQL backend"). */
export {
  openPostgresStore,
  PostgresStore,
  AUDIT_PAGE_ROWS,
  type PostgresStoreOptions,
} from './postgres-store.js';
export {
  isPostgresUrl,
  redactPostgresUrl,
  POOL_DEFAULTS,
  SSL_MODES,
  type PostgresConnectionOptions,
  type SslMode,
} from './connection.js';
export { POSTGRES_LATEST_SCHEMA_VERSION, POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations.js';
export type { StoreWarning } from './pool.js';
