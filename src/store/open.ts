/**
 * Opens a store by where it is (docs/storage.md): a `postgres://` or `postgresql://` URL is the PostgreSQL
 * backend, anything else the path of a SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DkeError } from '../errors/index.js';
import { isPostgresUrl, openPostgresStore, type PostgresStoreOptions } from './postgres/index.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { DkeStore } from './types.js';

export interface OpenStoreOptions {
  /** Open without writing anything (no migration; the schema must be current). A SQLite file must exist. */
  readonly readonly?: boolean;
  /** A SQLite file must exist already: never create an empty store where one was expected. */
  readonly mustExist?: boolean;
  /** SQLite: how long a call waits for another process's lock; default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** PostgreSQL: pool, TLS and password options (the store configuration). */
  readonly postgres?: Omit<PostgresStoreOptions, 'readonly'>;
}

export function isStoreUrl(location: string): boolean {
  return isPostgresUrl(location);
}

export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<DkeStore> {
  const readonly = options.readonly === true;
  if (isPostgresUrl(location)) return openPostgresStore(location, { ...options.postgres, readonly });
  const file = path.resolve(location);
  if ((readonly || options.mustExist === true) && !fs.existsSync(file)) {
    throw new DkeError('ERR_IO', {
      message: `the key store ${file} does not exist`,
      hint: 'give the path of an existing store file (store.database of the key service), or a postgres:// URL',
    });
  }
  return openSqliteStore(file, {
    readonly,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
}
