/**
 * Which store an offline CLI command (`dke key`, `dke audit`) works on: the config file's `store` section
 * (with DKE_* overrides and defaults), then `--db` / `--master-key-file`, so the CLI and a running server
 * given the same config share one SQLite file (or PostgreSQL database: `--db` takes a postgres:// URL too).
 */
import path from 'node:path';
import { loadConfig } from './load.js';
import type { KeysConfig, StoreConfig } from './schema.js';
import { isPostgresUrl } from '../store/postgres/connection.js';

export interface StoreFlags {
  readonly config?: string;
  readonly db?: string;
  readonly masterKeyFile?: string;
}

export function resolveStoreConfig(flags: StoreFlags, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  return resolveServiceParts(flags, env).store;
}

/** The store and the key backends (docs/hsm.md) of the config, with the store flags applied. */
export function resolveServiceParts(
  flags: StoreFlags,
  env: NodeJS.ProcessEnv = process.env,
): { store: StoreConfig; keys: KeysConfig } {
  const { store, keys } = loadConfig({ ...(flags.config === undefined ? {} : { file: flags.config }), env });
  return { keys, store: resolvedStore(store, flags) };
}

function resolvedStore(store: StoreConfig, flags: StoreFlags): StoreConfig {
  return {
    ...store,
    database:
      flags.db === undefined ? store.database : isPostgresUrl(flags.db) ? flags.db : path.resolve(flags.db),
    masterKeyFile:
      flags.masterKeyFile === undefined ? store.masterKeyFile : path.resolve(flags.masterKeyFile),
  };
}
