/**
 * Which store an offline CLI command (`dke key`, `dke audit`) works on: the config file's `store` section
 * (with DKE_* overrides and defaults), then `--db` / `--master-key-file`, so the CLI and a running server
 * given the same config share one SQLite file (or PostgreSQL database: `--db` takes a postgres:// URL too).
 */
import path from 'node:path';
import { loadConfig } from './load.js';
import type { StoreConfig } from './schema.js';
import { isPostgresUrl } from '../store/postgres/connection.js';

export interface StoreFlags {
  readonly config?: string;
  readonly db?: string;
  readonly masterKeyFile?: string;
}

export function resolveStoreConfig(flags: StoreFlags, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const { store } = loadConfig({ ...(flags.config === undefined ? {} : { file: flags.config }), env });
  return {
    ...store,
    database:
      flags.db === undefined ? store.database : isPostgresUrl(flags.db) ? flags.db : path.resolve(flags.db),
    masterKeyFile:
      flags.masterKeyFile === undefined ? store.masterKeyFile : path.resolve(flags.masterKeyFile),
  };
}
