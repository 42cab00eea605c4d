/**
 * Opening the customer key service's state: the store, the key manager and the audit log over one
 * SQLite file or PostgreSQL database (`openKeyServiceAt`, docs/storage.md). This is what the CLI
 * (`dke key ...`, `dke audit ...`) and the server call (docs/keys.md).
 */
import { DkeError } from '../errors/index.js';
import { StoreAuditLog } from '../audit/index.js';
import {
  isPostgresUrl,
  openPostgresStore,
  openSqliteStore,
  type DkeStore,
  type PostgresStoreOptions,
  type SqliteStore,
} from '../store/index.js';
import { KeyManager } from './key-manager.js';
import type { MasterKey } from './master-key.js';
import { Pkcs11KeyBackend } from './backends/pkcs11/backend.js';
import type { Pkcs11Config } from './backends/pkcs11/config.js';
import type { TokenHealth, TokenOptions } from './backends/pkcs11/token.js';

const MASTER_KEY_CHECK = 'master_key_check';

export interface KeyServiceOptions {
  /** The SQLite file; created (mode 0600) with its directory if missing. */
  readonly dbPath: string;
  readonly masterKey: MasterKey;
  /** How long to wait (blocking) for another process's write lock; default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * Server mode: once open, the store never blocks waiting for a lock (busy timeout 0); audit appends retry
   * asynchronously for up to this long instead, and other writes fail at once with ERR_STORE_BUSY
   * (docs/storage.md). Opening itself (migrations) still waits `busyTimeoutMs`.
   */
  readonly lockWaitMs?: number;
  readonly now?: () => Date;
  /** The PKCS#11 token of keys with backend 'pkcs11' (docs/hsm.md). */
  readonly pkcs11?: Pkcs11Config;
  /**
   * Server mode: connect to the token at once and keep trying in the background while it is unavailable
   * (TokenOptions.waitForToken). Without it (the CLI), the token is opened on first use, and must be there.
   */
  readonly pkcs11Options?: TokenOptions & { readonly eager?: boolean };
  /** `openKeyServiceAt` with a PostgreSQL URL: pool, TLS, password, warnings. */
  readonly postgres?: PostgresStoreOptions;
}

export interface KeyService<S extends DkeStore = SqliteStore> {
  readonly store: S;
  readonly keys: KeyManager;
  readonly audit: StoreAuditLog;
  /** The token's health, when a PKCS#11 token is configured and has been opened (for /healthz). */
  tokenHealth(): TokenHealth | undefined;
  /** Commits pending audit records, then closes the file (and releases the token). */
  close(): Promise<void>;
}

export interface AuditStore<S extends DkeStore = SqliteStore> {
  readonly store: S;
  readonly audit: StoreAuditLog;
  close(): Promise<void>;
}

/** Opens (creating and migrating if needed) the store. Rejects ERR_MASTER_KEY for the wrong master key. */
export async function openKeyService(options: KeyServiceOptions): Promise<KeyService> {
  const store = openSqliteStore(options.dbPath, withBusyTimeout(options.busyTimeoutMs));
  // Server mode: the SQLite connection never blocks on another process's lock (docs/storage.md).
  return serviceOver(store, options, () => {
    if (options.lockWaitMs !== undefined) store.setBusyTimeout(0);
  });
}

/**
 * Like openKeyService, for whichever backend `options.dbPath` names: a SQLite file, or a PostgreSQL
 * database given as a `postgres://` URL (with `options.postgres`).
 */
export async function openKeyServiceAt(options: KeyServiceOptions): Promise<KeyService<DkeStore>> {
  if (!isPostgresUrl(options.dbPath)) return openKeyService(options);
  const store = await openPostgresStore(options.dbPath, options.postgres ?? {});
  return serviceOver(store, options);
}

async function serviceOver<S extends DkeStore>(
  store: S,
  options: KeyServiceOptions,
  afterCheck: () => void = () => undefined,
): Promise<KeyService<S>> {
  try {
    await assertMasterKeyMatches(store, options.masterKey);
    afterCheck();
  } catch (error) {
    await store.close();
    throw error;
  }
  const clock = options.now === undefined ? {} : { now: options.now };
  let token: Pkcs11KeyBackend | undefined;
  const pkcs11Config = options.pkcs11;
  const openToken = (): Pkcs11KeyBackend => {
    if (pkcs11Config === undefined) throw new DkeError('ERR_INTERNAL', { detail: 'no pkcs11 config' });
    token ??= Pkcs11KeyBackend.open(pkcs11Config, options.pkcs11Options ?? {});
    return token;
  };
  if (pkcs11Config !== undefined && options.pkcs11Options?.eager === true) {
    try {
      openToken();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  const keys = new KeyManager(store, options.masterKey, {
    ...clock,
    ...(pkcs11Config === undefined ? {} : { pkcs11: openToken }),
  });
  const audit = new StoreAuditLog(store, {
    ...clock,
    ...(options.lockWaitMs === undefined ? {} : { lockWaitMs: options.lockWaitMs }),
  });
  return {
    store,
    keys,
    audit,
    tokenHealth: () => token?.health(),
    close: async () => {
      try {
        await closeBoth(audit, store);
      } finally {
        await token?.close();
      }
    },
  };
}

export interface AuditStoreOptions {
  readonly dbPath: string;
  readonly readonly?: boolean;
  readonly busyTimeoutMs?: number;
  /** `openAuditStoreAt` with a PostgreSQL URL. */
  readonly postgres?: PostgresStoreOptions;
}

/** The audit log alone, without the master key: for `dke audit verify|list` (read-only by default). */
export function openAuditStore(options: AuditStoreOptions): Promise<AuditStore> {
  return new Promise((resolve) => {
    const store = openSqliteStore(options.dbPath, {
      readonly: options.readonly ?? true,
      ...withBusyTimeout(options.busyTimeoutMs),
    });
    const audit = new StoreAuditLog(store);
    resolve({ store, audit, close: () => closeBoth(audit, store) });
  });
}

/** Like openAuditStore, for a SQLite file or a PostgreSQL URL. */
export async function openAuditStoreAt(options: AuditStoreOptions): Promise<AuditStore<DkeStore>> {
  if (!isPostgresUrl(options.dbPath)) return openAuditStore(options);
  const store = await openPostgresStore(options.dbPath, {
    ...options.postgres,
    readonly: options.readonly ?? true,
  });
  const audit = new StoreAuditLog(store);
  return { store, audit, close: () => closeBoth(audit, store) };
}

/** The audit log first (its last commit needs the store), then the store. */
async function closeBoth(audit: StoreAuditLog, store: DkeStore): Promise<void> {
  try {
    await audit.close();
  } finally {
    await store.close();
  }
}

/**
 * The first master key to open a store is recorded (as a sealed check value); any other is refused here,
 * before a key is sealed under it or an unseal fails mid-request.
 */
export async function assertMasterKeyMatches(store: DkeStore, masterKey: MasterKey): Promise<void> {
  const stored = await store.setMetaIfAbsent(MASTER_KEY_CHECK, masterKey.checkValue());
  if (!masterKey.matchesCheckValue(stored)) {
    throw new DkeError('ERR_MASTER_KEY', {
      message: 'the master key does not belong to this key store',
      detail: `master key ${masterKey.fingerprint} does not open the store's check value`,
      hint: 'use the master key this store was created with (DKE_MASTER_KEY or store.masterKeyFile)',
    });
  }
}

function withBusyTimeout(busyTimeoutMs: number | undefined): { busyTimeoutMs?: number } {
  return busyTimeoutMs === undefined ? {} : { busyTimeoutMs };
}
