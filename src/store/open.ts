/**
 * One way to open the store whatever the backend: `store.database` is either a SQLite file path or a
 * PostgreSQL URL (`postgres://` / `postgresql://`), and the caller gets a DkeStore (docs/storage.md).
 */
import { openSqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.js';
import { isPostgresUrl } from './postgres/connection.js';
import { openPostgresStore, type PostgresStoreOptions } from './postgres/postgres-store.js';
import type { DkeStore } from './types.js';

export interface OpenStoreOptions {
  /** Open without writing anything (no migration): `dke audit verify`, `dke audit list`. */
  readonly readonly?: boolean;
  /** SQLite only: how long a call waits (blocking) for another process's lock. */
  readonly busyTimeoutMs?: number;
  /** PostgreSQL only: pool, timeouts, TLS, password, warnings. */
  readonly postgres?: PostgresStoreOptions;
}

/** Which backend a `store.database` value names. */
export function storeBackendOf(database: string): 'sqlite' | 'postgres' {
  return isPostgresUrl(database) ? 'postgres' : 'sqlite';
}

/** Opens (migrating unless read-only) the store `database` names. Rejects with DkeErrors only. */
export async function openStore(database: string, options: OpenStoreOptions = {}): Promise<DkeStore> {
  const readonly = options.readonly === undefined ? {} : { readonly: options.readonly };
  if (isPostgresUrl(database)) {
    return openPostgresStore(database, { ...options.postgres, ...readonly });
  }
  const sqlite: SqliteStoreOptions = {
    ...readonly,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  };
  return Promise.resolve(openSqliteStore(database, sqlite));
}
