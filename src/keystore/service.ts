/**
 * Opening the customer key service's state: the store, the key manager and the audit log over one
 * SQLite file. This is what the CLI (`dke key ...`, `dke audit ...`) and the server call (docs/keys.md).
 */
import { DkeError } from '../errors/index.js';
import { StoreAuditLog } from '../audit/index.js';
import { openSqliteStore, type DkeStore, type SqliteStore } from '../store/index.js';
import { KeyManager } from './key-manager.js';
import type { MasterKey } from './master-key.js';

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
}

export interface KeyService {
  readonly store: SqliteStore;
  readonly keys: KeyManager;
  readonly audit: StoreAuditLog;
  /** Commits pending audit records, then closes the file. */
  close(): Promise<void>;
}

export interface AuditStore {
  readonly store: SqliteStore;
  readonly audit: StoreAuditLog;
  close(): Promise<void>;
}

/** Opens (creating and migrating if needed) the store. Rejects ERR_MASTER_KEY for the wrong master key. */
export async function openKeyService(options: KeyServiceOptions): Promise<KeyService> {
  const store = openSqliteStore(options.dbPath, withBusyTimeout(options.busyTimeoutMs));
  try {
    await assertMasterKeyMatches(store, options.masterKey);
  } catch (error) {
    await store.close();
    throw error;
  }
  const clock = options.now === undefined ? {} : { now: options.now };
  const keys = new KeyManager(store, options.masterKey, clock);
  if (options.lockWaitMs !== undefined) store.setBusyTimeout(0);
  const audit = new StoreAuditLog(store, {
    ...clock,
    ...(options.lockWaitMs === undefined ? {} : { lockWaitMs: options.lockWaitMs }),
  });
  return { store, keys, audit, close: () => closeBoth(audit, store) };
}

/** The audit log alone, without the master key: for `dke audit verify|list` (read-only by default). */
export function openAuditStore(options: {
  readonly dbPath: string;
  readonly readonly?: boolean;
  readonly busyTimeoutMs?: number;
}): Promise<AuditStore> {
  return new Promise((resolve) => {
    const store = openSqliteStore(options.dbPath, {
      readonly: options.readonly ?? true,
      ...withBusyTimeout(options.busyTimeoutMs),
    });
    const audit = new StoreAuditLog(store);
    resolve({ store, audit, close: () => closeBoth(audit, store) });
  });
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
