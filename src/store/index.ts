/** The storage layer: the adapter contract (docs/storage.md), the SQLite and PostgreSQL backends, openStore. */
export type {
  AuditActivityQuery,
  AuditActivityRow,
  AuditRow,
  AuditRowQuery,
  AuditTail,
  AuditChainLink,
  CheckpointRow,
  CosignatureRow,
  DkeStore,
  KeyRecord,
  KeyUseRecord,
  KeyUpdate,
  KeyVersionRecord,
  NewKeyRecord,
  NewKeyVersion,
  RevokedObject,
  SecurityEventQuery,
  SecurityEventRetention,
  SecurityEventRow,
  StoreHealth,
  WitnessedLog,
} from './types.js';
export { openSqliteStore, SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.js';
export { BACKFILL_LEAVES_PER_TRANSACTION, type TreeBackfill } from './sqlite/audit-tree.js';
export { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './sqlite/migrations.js';
export { openStore, storeBackendOf, type OpenStoreOptions } from './open.js';
export {
  isPostgresUrl,
  openPostgresStore,
  PostgresStore,
  redactPostgresUrl,
  type PostgresStoreOptions,
} from './postgres/index.js';
