/**
 * The embedded backend: one SQLite file via better-sqlite3. WAL so readers never block the writer,
 * synchronous=NORMAL with the WAL fdatasynced off the event loop before a write resolves (wal-sync.ts), so
 * a returned commit survives power loss, busy_timeout so the CLI and a running key
 * service can share the file, secure_delete so destroyed key material is overwritten (docs/storage.md).
 *
 * better-sqlite3 is synchronous: each method does its whole transaction before it returns its (settled)
 * promise, so no statement or transaction is ever open across an `await`. The iterators read in keyset
 * pages for the same reason: an open better-sqlite3 iterator makes the connection busy for every other call.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { DkeError, isDkeError } from '../../errors/index.js';
import type { KeyPolicy } from '../../service/contracts.js';
import { AUDIT_HASH_DOMAIN } from '../../audit/canonical.js';
import { checkSchemaVersion, migrate } from './migrations.js';
import { WalSync } from './wal-sync.js';
import type { NodeId } from '../../transparency/proof-plan.js';
import { checkTreeMatchesLog, leavesOfRows } from '../audit-tree-append.js';
import {
  appendLeaves,
  backfillTree,
  prepareTreeStatements,
  readTreeNodes,
  storedTreeSize,
  type TreeBackfill,
  type TreeStatements,
} from './audit-tree.js';
import type {
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
} from '../types.js';
import { parseStoredPolicy } from '../stored-policy.js';
import { auditActivitySql, checkActivityQuery, toActivityRow } from '../audit-activity.js';
import { excludedActions } from '../audit-query.js';

export interface SqliteStoreOptions {
  /** Open without writing anything (no migration, no pragmas that write); for `dke audit verify`. */
  readonly readonly?: boolean;
  /**
   * How long a call waits (blocking the thread) for another process's lock before failing with
   * ERR_STORE_BUSY; default 5000 ms. Opening (migrations) always waits this long; `setBusyTimeout` changes
   * it afterwards (the server sets 0 and retries asynchronously instead).
   */
  readonly busyTimeoutMs?: number;
}

const KEY_COLUMNS = `k.name, k.protocol, k.state, k.active_version AS activeVersion, k.cache_seconds AS cacheSeconds,
  k.created_at AS createdAt, k.updated_at AS updatedAt, p.policy AS policy`;
const KEY_FROM = 'keys k JOIN key_policies p ON p.key_name = k.name';
const VERSION_COLUMNS = `key_name AS keyName, version, key_id AS keyId, spec, public_jwk AS publicJwk,
  sealed_private_key AS sealedPrivateKey, token_ref AS tokenRef, created_at AS createdAt, destroyed_at AS destroyedAt`;
const SECURITY_EVENT_COLUMNS = `window_start AS windowStart, client_address AS clientAddress, reason, issuer,
  subject, count, first_seen AS firstSeen, last_seen AS lastSeen`;
const AUDIT_COLUMNS = `seq, time, prev_hash AS prevHash, hash, action, result, reason, issuer, subject,
  user_name AS userName, key_name AS keyName, key_version AS keyVersion, key_id AS keyId, object_id AS objectId,
  client_address AS clientAddress, request_id AS requestId`;

/**
 * The canonical text of a record, built by SQLite: json_array quotes strings exactly like JSON.stringify
 * (the store suite checks it against canonicalAuditText), and doing it in C halves verify() time.
 */
const CANONICAL_TEXT = `json_array('${AUDIT_HASH_DOMAIN}', seq, time, prev_hash, action, result, reason, issuer, subject,
  user_name, key_name, key_version, key_id, object_id, client_address, request_id)`;

type KeyRow = Omit<KeyRecord, 'policy'> & { policy: string };

export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): SqliteStore {
  return new SqliteStore(file, options);
}

/** Bound on the read cache (revocation checks are cached per object id). */
const MAX_CACHED_READS = 10_000;
/** Records per page when streaming the log (one short statement per page, nothing open in between). */
const PAGE_ROWS = 1000;

export class SqliteStore implements DkeStore {
  readonly backend = 'sqlite';
  readonly file: string;
  private readonly db: Db;
  private readonly sql: ReturnType<typeof prepareStatements>;
  private readonly tree: TreeStatements;
  /**
   * What opening for writing did to build the Merkle tree of records stored before it existed (an upgraded
   * store): leaves added and milliseconds taken; undefined for read-only opens. The service logs it.
   */
  readonly treeBackfill: TreeBackfill | undefined;
  private readonly dataVersion: Statement;
  /** Flushes the WAL after each write transaction (read-only opens have none). */
  private readonly walSync: WalSync | undefined;
  /**
   * Key reads (state, versions, policy, revocations) are answered from memory until the database
   * changes: `PRAGMA data_version` moves whenever another connection (the CLI, another server) commits,
   * and this connection's own key writes clear the cache. Audit appends leave key data alone. So a
   * lifecycle change still takes effect on the next request, without several queries per request.
   */
  private readonly reads = new Map<string, unknown>();
  private readsVersion: unknown = undefined;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.file = path.resolve(file);
    const readonly = options.readonly === true;
    this.db = openDatabase(this.file, readonly);
    try {
      this.db.pragma(`busy_timeout = ${busyTimeout(options.busyTimeoutMs)}`);
      this.db.pragma('foreign_keys = ON');
      if (readonly) {
        checkSchemaVersion(this.db);
      } else {
        this.db.pragma('journal_mode = WAL');
        // In WAL mode SQLite defaults to NORMAL, which may lose the last commits on power loss.
        this.db.pragma('synchronous = FULL');
        this.db.pragma('secure_delete = ON');
        migrate(this.db, () => new Date().toISOString());
      }
      this.sql = prepareStatements(this.db);
      this.tree = prepareTreeStatements(this.db);
      this.treeBackfill = readonly ? undefined : backfillTree(this.db, this.tree, CANONICAL_TEXT);
      this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
      if (!readonly) {
        // From here on commits are flushed by `walSync`, off the event loop, before a write resolves:
        // FULL's durability without the synchronous fsync per commit (wal-sync.ts).
        this.db.pragma('synchronous = NORMAL');
        this.walSync = new WalSync(`${this.file}-wal`);
      }
    } catch (error) {
      this.db.close();
      throw asStoreError(error, 'could not open the key store');
    }
  }

  /** Changes how long later calls wait for another process's lock (0: fail with ERR_STORE_BUSY at once). */
  setBusyTimeout(ms: number): void {
    this.guard(() => this.db.pragma(`busy_timeout = ${busyTimeout(ms)}`));
  }

  probeHealth(): Promise<StoreHealth> {
    return Promise.resolve(this.probeSync());
  }

  getMeta(name: string): Promise<string | undefined> {
    return this.read(() => (this.sql.getMeta.get(name) as { value: string } | undefined)?.value);
  }

  setMetaIfAbsent(name: string, value: string): Promise<string> {
    return this.write(() => {
      this.sql.insertMetaIfAbsent.run(name, value);
      return (this.sql.getMeta.get(name) as { value: string }).value;
    });
  }

  listMeta(): Promise<[name: string, value: string][]> {
    return this.read(() => this.sql.listMeta.all() as [string, string][]);
  }

  createKey(key: NewKeyRecord, firstVersion: NewKeyVersion): Promise<void> {
    return this.write(() => {
      this.assertNameFree(key.name);
      this.assertKeyIdFree(firstVersion.keyId);
      this.sql.insertKey.run(key.name, key.protocol, key.cacheSeconds, key.createdAt, key.createdAt);
      this.sql.insertPolicy.run(key.name, JSON.stringify(emptyPolicy()), key.createdAt);
      this.insertVersion(key.name, 1, firstVersion);
    });
  }

  importKey(
    key: KeyRecord,
    versions: readonly KeyVersionRecord[],
    revoked: readonly RevokedObject[],
  ): Promise<void> {
    return this.write(() => {
      this.assertNameFree(key.name);
      for (const v of versions) this.assertKeyIdFree(v.keyId);
      this.sql.importKey.run(
        key.name,
        key.protocol,
        key.state,
        key.activeVersion,
        key.cacheSeconds,
        key.createdAt,
        key.updatedAt,
      );
      this.sql.insertPolicy.run(key.name, JSON.stringify(key.policy), key.updatedAt);
      for (const v of versions) {
        this.sql.importVersion.run(
          key.name,
          v.version,
          v.keyId,
          v.spec,
          v.publicJwk,
          v.sealedPrivateKey,
          v.tokenRef ?? null,
          v.createdAt,
          v.destroyedAt,
        );
      }
      for (const r of revoked) this.sql.revoke.run(key.name, r.objectId, r.revokedAt);
    });
  }

  getKey(name: string): Promise<KeyRecord | undefined> {
    return this.cachedRead(`key\n${name}`, () => this.readKey(name));
  }

  listKeys(): Promise<KeyRecord[]> {
    return this.read(() => (this.sql.listKeys.all() as KeyRow[]).map(toKeyRecord));
  }

  listKeyVersions(name: string): Promise<KeyVersionRecord[]> {
    return this.cachedRead(`versions\n${name}`, () => this.sql.listVersions.all(name) as KeyVersionRecord[]);
  }

  getKeyVersion(name: string, keyId: string): Promise<KeyVersionRecord | undefined> {
    return this.cachedRead(`version\n${name}\n${keyId}`, () => this.readVersion(name, keyId));
  }

  getKeyForUse(name: string, keyId: string, objectId?: string): Promise<KeyUseRecord | undefined> {
    // The whole record is one cache entry, read in one transaction: a snapshot, like a networked backend's.
    return this.cachedRead(`use\n${name}\n${keyId}\n${objectId ?? ''}`, () =>
      this.db
        .transaction((): KeyUseRecord | undefined => {
          const key = this.readKey(name);
          if (key === undefined) return undefined;
          return {
            key,
            version: this.readVersion(name, keyId),
            objectRevoked: objectId !== undefined && this.readRevoked(name, objectId),
          };
        })
        .deferred(),
    );
  }

  addKeyVersion(name: string, build: (version: number) => NewKeyVersion): Promise<KeyVersionRecord> {
    return this.write(() => {
      this.requireLiveKey(name);
      const { latest } = this.sql.latestVersion.get(name) as { latest: number };
      const version = latest + 1;
      const fresh = build(version);
      this.assertKeyIdFree(fresh.keyId);
      this.insertVersion(name, version, fresh);
      this.sql.setActiveVersion.run(version, fresh.createdAt, name);
      return this.sql.getVersion.get(name, fresh.keyId) as KeyVersionRecord;
    });
  }

  updateKey(name: string, update: KeyUpdate): Promise<void> {
    return this.write(() => {
      this.requireLiveKey(name);
      if (update.state !== undefined) this.sql.setState.run(update.state, update.updatedAt, name);
      if (update.cacheSeconds !== undefined) {
        this.sql.setCacheSeconds.run(update.cacheSeconds, update.updatedAt, name);
      }
      if (update.policy !== undefined) {
        this.sql.setPolicy.run(JSON.stringify(update.policy), update.updatedAt, name);
        this.sql.touchKey.run(update.updatedAt, name);
      }
    });
  }

  destroyKey(name: string, at: string): Promise<void> {
    return this.durable(
      settle(() => {
        this.transact(() => {
          const key = this.sql.getKey.get(name) as KeyRow | undefined;
          if (key === undefined) throw new DkeError('ERR_KEY_NOT_FOUND');
          // secure_delete zeroes the freed cells and overflow pages that held the sealed material.
          this.sql.shredVersions.run(at, name);
          if (key.state !== 'destroyed') this.sql.setState.run('destroyed', at, name);
        });
        // The WAL still holds pre-destroy page images: copy back and truncate it now rather than at some
        // later checkpoint. If a reader in another process pins old frames, the next checkpoint finishes it.
        this.guard(() => this.db.pragma('wal_checkpoint(TRUNCATE)'));
      }),
    );
  }

  revokeObject(keyName: string, objectId: string, at: string): Promise<boolean> {
    return this.write(() => {
      this.requireLiveKey(keyName);
      return this.sql.revoke.run(keyName, objectId, at).changes === 1;
    });
  }

  unrevokeObject(keyName: string, objectId: string): Promise<boolean> {
    return this.write(() => {
      this.requireLiveKey(keyName);
      return this.sql.unrevoke.run(keyName, objectId).changes === 1;
    });
  }

  isObjectRevoked(keyName: string, objectId: string): Promise<boolean> {
    return this.cachedRead(`revoked\n${keyName}\n${objectId}`, () => this.readRevoked(keyName, objectId));
  }

  listRevokedObjects(keyName: string): Promise<RevokedObject[]> {
    return this.read(() => this.sql.listRevoked.all(keyName) as RevokedObject[]);
  }

  appendAuditRows(build: (tail: AuditTail | undefined) => readonly AuditRow[]): Promise<readonly AuditRow[]> {
    // BEGIN IMMEDIATE takes the write lock before reading the tail, so no other process can append
    // between our read of the last hash and our insert.
    return this.write(() => {
      const tail = this.sql.auditTail.get() as AuditTail | undefined;
      const treeSize = storedTreeSize(this.tree);
      checkTreeMatchesLog(treeSize, tail?.seq ?? 0);
      const rows = build(tail);
      const leaves = leavesOfRows(treeSize, rows);
      // Same transaction: a crash or a failed insert leaves neither the rows nor their nodes.
      for (const row of rows) this.sql.insertAudit.run(row);
      appendLeaves(this.tree, treeSize, leaves);
      return rows;
    }, false);
  }

  auditTreeSize(): Promise<number> {
    return this.read(() => storedTreeSize(this.tree));
  }

  readAuditTreeNodes(ids: readonly NodeId[]): Promise<Buffer[]> {
    // One read transaction, so every node comes from the same snapshot.
    return this.read(() => this.db.transaction(() => readTreeNodes(this.tree, ids)).deferred());
  }

  getAuditRow(seq: number): Promise<AuditRow | undefined> {
    return this.read(() => this.sql.auditRowBySeq.get(seq) as AuditRow | undefined);
  }

  findAuditRowsByRequestId(requestId: string, limit: number): Promise<AuditRow[]> {
    return this.read(() => this.sql.auditRowsByRequestId.all(requestId, limit) as AuditRow[]);
  }

  auditTail(): Promise<AuditTail | undefined> {
    return this.read(() => this.sql.auditTail.get() as AuditTail | undefined);
  }

  async *iterateAuditChain(): AsyncIterableIterator<AuditChainLink> {
    // Records are append-only and keyed by seq, so pages read at different times still join up.
    let after = 0;
    for (;;) {
      const page = await this.read(() => this.sql.auditChainPage.all(after, PAGE_ROWS) as AuditChainLink[]);
      yield* page;
      if (page.length < PAGE_ROWS) return;
      after = (page[page.length - 1] as AuditChainLink)[1];
    }
  }

  async queryAuditRows(query: AuditRowQuery): Promise<AuditRow[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, ...values: string[]): void => {
      where.push(clause);
      params.push(...values);
    };
    if (query.keyName !== undefined) add('key_name = ?', query.keyName);
    if (query.objectId !== undefined) add('object_id = ?', query.objectId);
    if (query.subject !== undefined) add('subject = ?', query.subject);
    if (query.identity !== undefined)
      add('(subject = ? OR user_name = ?)', query.identity, query.identity.toLowerCase());
    if (query.since !== undefined) add('time >= ?', query.since);
    if (query.until !== undefined) add('time < ?', query.until);
    if (query.action !== undefined) add('action = ?', query.action);
    if (query.result !== undefined) add('result = ?', query.result);
    const excluded = excludedActions(query);
    if (excluded.length > 0) add(`action NOT IN (${excluded.map(() => '?').join(', ')})`, ...excluded);
    // Seq bounds ride on the primary key (or the (column, seq) indexes above), so paging stays cheap.
    if (query.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(query.beforeSeq);
    }
    if (query.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(query.afterSeq);
    }
    const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const order = query.afterSeq === undefined ? 'DESC' : 'ASC';
    params.push(query.limit);
    return this.read(
      () =>
        this.db
          .prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log ${filter} ORDER BY seq ${order} LIMIT ?`)
          .all(...params) as AuditRow[],
    );
  }

  async *iterateAuditRows(since?: string): AsyncIterableIterator<AuditRow> {
    let after = 0;
    if (since !== undefined) {
      // The time index finds the first matching seq; the pages then run along the primary key from there
      // (without it SQLite scans the whole table). `time >= ?` still filters: clocks can step back.
      const first = await this.read(() => this.sql.firstSeqAtOrAfter.get(since) as number | null);
      if (first === null) return;
      after = first - 1;
    }
    for (;;) {
      const page = await this.read(
        () =>
          (since === undefined
            ? this.sql.auditRowsPage.all(after, PAGE_ROWS)
            : this.sql.auditRowsSincePage.all(after, since, PAGE_ROWS)) as AuditRow[],
      );
      yield* page;
      if (page.length < PAGE_ROWS) return;
      after = (page[page.length - 1] as AuditRow).seq;
    }
  }

  async auditActivity(query: AuditActivityQuery): Promise<AuditActivityRow[]> {
    checkActivityQuery(query);
    const rows = await this.read(
      () =>
        this.db
          .prepare(auditActivitySql(query, () => '?'))
          .raw()
          .all(query.since, query.until, query.series) as [string, string | null, number, number][],
    );
    return rows.map(([bucket, name, releases, refusals]) =>
      toActivityRow(query, bucket, name, releases, refusals),
    );
  }

  storeCheckpoint(row: CheckpointRow): Promise<void> {
    return this.write(() => {
      const stored = this.sql.checkpointBySize.get(row.size) as CheckpointRow | undefined;
      if (stored === undefined) {
        this.sql.insertCheckpoint.run(row);
      } else if (!stored.root.equals(row.root)) {
        throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
          detail: `a checkpoint of size ${row.size} with another root is stored already`,
        });
      }
    }, false);
  }

  latestCheckpoint(): Promise<CheckpointRow | undefined> {
    return this.read(() => this.sql.latestCheckpoint.get() as CheckpointRow | undefined);
  }

  getCheckpoint(size: number): Promise<CheckpointRow | undefined> {
    return this.read(() => this.sql.checkpointBySize.get(size) as CheckpointRow | undefined);
  }

  listCheckpoints(): Promise<CheckpointRow[]> {
    return this.read(() => this.sql.listCheckpoints.all() as CheckpointRow[]);
  }

  storeCosignature(row: CosignatureRow): Promise<void> {
    return this.write(() => {
      this.sql.upsertCosignature.run(row);
    }, false);
  }

  listCosignatures(size: number): Promise<CosignatureRow[]> {
    return this.read(() => this.sql.cosignaturesBySize.all(size) as CosignatureRow[]);
  }

  newestCosignatures(): Promise<CosignatureRow[]> {
    return this.read(() => this.sql.newestCosignatures.all() as CosignatureRow[]);
  }

  recordSecurityEvents(rows: readonly SecurityEventRow[], retention: SecurityEventRetention): Promise<void> {
    return this.write(() => {
      for (const row of rows) this.sql.upsertSecurityEvent.run(row);
      this.sql.pruneSecurityEventsByAge.run(retention.notBefore);
      this.sql.pruneSecurityEventsByCount.run(Math.max(0, Math.trunc(retention.maxRows)));
    }, false);
  }

  querySecurityEvents(query: SecurityEventQuery): Promise<SecurityEventRow[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.since !== undefined) {
      where.push('last_seen >= ?');
      params.push(query.since);
    }
    if (query.clientAddress !== undefined) {
      where.push('client_address = ?');
      params.push(query.clientAddress);
    }
    if (query.reason !== undefined) {
      where.push('reason = ?');
      params.push(query.reason);
    }
    if (query.issuer !== undefined) {
      where.push('issuer = ?');
      params.push(query.issuer);
    }
    if (query.subject !== undefined) {
      where.push('subject = ?');
      params.push(query.subject);
    }
    const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    params.push(query.limit);
    return this.read(
      () =>
        this.db
          .prepare(
            `SELECT ${SECURITY_EVENT_COLUMNS} FROM security_events ${filter}
             ORDER BY last_seen DESC, client_address, reason, issuer, subject LIMIT ?`,
          )
          .all(...params) as SecurityEventRow[],
    );
  }

  getWitnessedLog(origin: string): Promise<WitnessedLog | undefined> {
    return this.read(() => {
      const row = this.sql.getWitnessedLog.get(origin) as WitnessedLogRow | undefined;
      return row === undefined ? undefined : toWitnessedLog(row);
    });
  }

  listWitnessedLogs(): Promise<WitnessedLog[]> {
    return this.read(() => (this.sql.listWitnessedLogs.all() as WitnessedLogRow[]).map(toWitnessedLog));
  }

  compareAndSetWitnessedLog(
    origin: string,
    oldSize: bigint,
    newSize: bigint,
    newRoot: Uint8Array,
    updatedAt: string,
  ): Promise<boolean> {
    return this.write(() => {
      const row = this.sql.getWitnessedLog.get(origin) as WitnessedLogRow | undefined;
      const stored = row === undefined ? 0n : BigInt(row.size);
      if (stored !== oldSize) return false;
      this.sql.putWitnessedLog.run(origin, newSize, Buffer.from(newRoot), updatedAt);
      return true;
    }, false);
  }

  async close(): Promise<void> {
    await this.walSync?.close();
    if (this.db.open) this.db.close();
  }

  /** Runs raw SQL; for tests and maintenance tools only, never for request handling. */
  unsafeDatabase(): Db {
    return this.db;
  }

  private probeSync(): StoreHealth {
    if (!this.db.open) return 'unavailable';
    let previous: number | undefined;
    try {
      previous = this.db.pragma('busy_timeout', { simple: true }) as number;
      this.db.pragma('busy_timeout = 0');
      // Takes and drops the write lock: no write, no fsync, microseconds.
      this.db.exec('BEGIN IMMEDIATE');
      this.db.exec('ROLLBACK');
      return 'ok';
    } catch (error) {
      return isBusy(error) ? 'locked' : 'unavailable';
    } finally {
      if (previous !== undefined && this.db.open) this.db.pragma(`busy_timeout = ${previous}`);
    }
  }

  private readKey(name: string): KeyRecord | undefined {
    const row = this.sql.getKey.get(name) as KeyRow | undefined;
    return row === undefined ? undefined : toKeyRecord(row);
  }

  private readVersion(name: string, keyId: string): KeyVersionRecord | undefined {
    return this.sql.getVersion.get(name, keyId) as KeyVersionRecord | undefined;
  }

  private readRevoked(keyName: string, objectId: string): boolean {
    return this.sql.isRevoked.get(keyName, objectId) !== undefined;
  }

  private insertVersion(name: string, version: number, fresh: NewKeyVersion): void {
    this.sql.insertVersion.run(
      name,
      version,
      fresh.keyId,
      fresh.spec,
      fresh.publicJwk,
      fresh.sealedPrivateKey,
      fresh.tokenRef ?? null,
      fresh.createdAt,
    );
  }

  private requireLiveKey(name: string): void {
    const key = this.sql.getKey.get(name) as KeyRow | undefined;
    if (key === undefined) throw new DkeError('ERR_KEY_NOT_FOUND');
    if (key.state === 'destroyed') throw new DkeError('ERR_KEY_DESTROYED');
  }

  private assertNameFree(name: string): void {
    if (this.sql.getKey.get(name) !== undefined) throw new DkeError('ERR_KEY_EXISTS');
  }

  private assertKeyIdFree(keyId: string): void {
    if (this.sql.keyIdTaken.get(keyId) !== undefined) {
      throw new DkeError('ERR_KEY_EXISTS', {
        message: 'this key material is stored already (as another key or version)',
      });
    }
  }

  /** A write transaction, resolved once it is durable. */
  private write<T>(work: () => T, changesKeys = true): Promise<T> {
    return this.durable(settle(() => this.transact(work, changesKeys)));
  }

  /** `committed`, after the WAL holding it was flushed to disk. */
  private async durable<T>(committed: Promise<T>): Promise<T> {
    const value = await committed;
    await this.walSync?.sync();
    return value;
  }

  /** One write transaction that takes the write lock up front (BEGIN IMMEDIATE), so it cannot deadlock. */
  private transact<T>(work: () => T, changesKeys = true): T {
    if (changesKeys) this.reads.clear();
    try {
      return this.guard(() => this.db.transaction(work).immediate());
    } finally {
      if (changesKeys) this.reads.clear();
    }
  }

  private cachedRead<T>(key: string, read: () => T): Promise<T> {
    return this.read(() => {
      const version = this.dataVersion.get();
      if (version !== this.readsVersion || this.reads.size >= MAX_CACHED_READS) {
        this.reads.clear();
        this.readsVersion = version;
      }
      if (this.reads.has(key)) return this.reads.get(key) as T;
      const value = read();
      this.reads.set(key, value);
      return value;
    });
  }

  /** A read, settled. */
  private read<T>(work: () => T): Promise<T> {
    return settle(() => this.guard(work));
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw asStoreError(error, 'key store read or write failed');
    }
  }
}

interface WitnessedLogRow {
  readonly origin: string;
  readonly size: number | bigint;
  readonly root: Buffer;
  readonly updated_at: string;
}

function toWitnessedLog(row: WitnessedLogRow): WitnessedLog {
  return { origin: row.origin, size: BigInt(row.size), root: row.root, updatedAt: row.updated_at };
}

/**
 * The outcome of synchronous driver work as a settled promise: a failure is a rejection, never a throw, so
 * callers see the same contract as from a networked backend.
 */
function settle<T>(work: () => T): Promise<T> {
  // A throw in the executor rejects the promise.
  return new Promise((resolve) => resolve(work()));
}

function busyTimeout(ms: number | undefined): number {
  return ms !== undefined && Number.isFinite(ms) ? Math.max(0, Math.trunc(ms)) : 5000;
}

function openDatabase(file: string, readonly: boolean): Db {
  try {
    if (!readonly) createPrivately(file);
    return new Database(file, { readonly, fileMustExist: readonly });
  } catch (error) {
    throw asStoreError(error, 'could not open the key store');
  }
}

/** The file holds sealed keys and who-opened-what: owner only. SQLite gives -wal/-shm the same mode. */
function createPrivately(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, ...): another connection holds the lock. */
function isBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && /^SQLITE_BUSY(_|$)/.test(error.code);
}

function asStoreError(error: unknown, message: string): DkeError {
  if (isDkeError(error)) return error;
  if (isBusy(error)) {
    return new DkeError('ERR_STORE_BUSY', {
      detail: `another process holds the store lock: ${(error as Error).message}`,
      cause: error,
    });
  }
  return new DkeError('ERR_IO', {
    message,
    detail: error instanceof Error ? error.message : String(error),
    cause: error,
  });
}

const CHECKPOINT_COLUMNS = 'size, root, note, created_at AS createdAt';
const COSIGNATURE_COLUMNS = 'size, witness_name AS witnessName, key_hash AS keyHash, line, timestamp';

function prepareStatements(db: Db) {
  const s = (sql: string): Statement => db.prepare(sql);
  return {
    getMeta: s('SELECT value FROM meta WHERE name = ?'),
    // Sizes go up to 2^63 - 1: read as bigint, never as a rounded number.
    getWitnessedLog: s(
      'SELECT origin, size, root, updated_at FROM witnessed_logs WHERE origin = ?',
    ).safeIntegers(true),
    putWitnessedLog: s(
      `INSERT INTO witnessed_logs (origin, size, root, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, updated_at = excluded.updated_at`,
    ),
    insertMetaIfAbsent: s('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)'),
    listMeta: s('SELECT name, value FROM meta ORDER BY name').raw(),
    listWitnessedLogs: s(
      'SELECT origin, size, root, updated_at FROM witnessed_logs ORDER BY origin',
    ).safeIntegers(true),
    getKey: s(`SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} WHERE k.name = ?`),
    listKeys: s(`SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} ORDER BY k.name`),
    insertKey: s(
      `INSERT INTO keys (name, protocol, state, active_version, cache_seconds, created_at, updated_at)
       VALUES (?, ?, 'enabled', 1, ?, ?, ?)`,
    ),
    importKey: s(
      `INSERT INTO keys (name, protocol, state, active_version, cache_seconds, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    importVersion: s(
      `INSERT INTO key_versions
         (key_name, version, key_id, spec, public_jwk, sealed_private_key, token_ref, created_at, destroyed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertPolicy: s('INSERT INTO key_policies (key_name, policy, updated_at) VALUES (?, ?, ?)'),
    setPolicy: s('UPDATE key_policies SET policy = ?, updated_at = ? WHERE key_name = ?'),
    setState: s('UPDATE keys SET state = ?, updated_at = ? WHERE name = ?'),
    setCacheSeconds: s('UPDATE keys SET cache_seconds = ?, updated_at = ? WHERE name = ?'),
    setActiveVersion: s('UPDATE keys SET active_version = ?, updated_at = ? WHERE name = ?'),
    touchKey: s('UPDATE keys SET updated_at = ? WHERE name = ?'),
    listVersions: s(`SELECT ${VERSION_COLUMNS} FROM key_versions WHERE key_name = ? ORDER BY version`),
    getVersion: s(`SELECT ${VERSION_COLUMNS} FROM key_versions WHERE key_name = ? AND key_id = ?`),
    latestVersion: s('SELECT coalesce(max(version), 0) AS latest FROM key_versions WHERE key_name = ?'),
    keyIdTaken: s('SELECT 1 FROM key_versions WHERE key_id = ?'),
    insertVersion: s(
      `INSERT INTO key_versions
         (key_name, version, key_id, spec, public_jwk, sealed_private_key, token_ref, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    shredVersions: s(
      `UPDATE key_versions SET sealed_private_key = NULL, destroyed_at = coalesce(destroyed_at, ?)
       WHERE key_name = ?`,
    ),
    revoke: s('INSERT OR IGNORE INTO revoked_objects (key_name, object_id, revoked_at) VALUES (?, ?, ?)'),
    unrevoke: s('DELETE FROM revoked_objects WHERE key_name = ? AND object_id = ?'),
    isRevoked: s('SELECT 1 FROM revoked_objects WHERE key_name = ? AND object_id = ?'),
    listRevoked: s(
      'SELECT object_id AS objectId, revoked_at AS revokedAt FROM revoked_objects WHERE key_name = ? ORDER BY revoked_at, object_id',
    ),
    upsertSecurityEvent: s(
      `INSERT INTO security_events
         (window_start, client_address, reason, issuer, subject, count, first_seen, last_seen)
       VALUES (@windowStart, @clientAddress, @reason, @issuer, @subject, @count, @firstSeen, @lastSeen)
       ON CONFLICT (window_start, client_address, reason, issuer, subject) DO UPDATE SET
         count = count + excluded.count,
         first_seen = min(first_seen, excluded.first_seen),
         last_seen = max(last_seen, excluded.last_seen)`,
    ),
    pruneSecurityEventsByAge: s('DELETE FROM security_events WHERE last_seen < ?'),
    pruneSecurityEventsByCount: s(
      `DELETE FROM security_events WHERE rowid IN
         (SELECT rowid FROM security_events ORDER BY last_seen DESC LIMIT -1 OFFSET ?)`,
    ),
    insertCheckpoint: s(
      'INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (@size, @root, @note, @createdAt)',
    ),
    checkpointBySize: s(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE size = ?`),
    latestCheckpoint: s(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size DESC LIMIT 1`),
    listCheckpoints: s(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size`),
    upsertCosignature: s(
      `INSERT OR REPLACE INTO audit_cosignatures (size, witness_name, key_hash, line, timestamp)
       VALUES (@size, @witnessName, @keyHash, @line, @timestamp)`,
    ),
    cosignaturesBySize: s(
      `SELECT ${COSIGNATURE_COLUMNS} FROM audit_cosignatures WHERE size = ? ORDER BY witness_name, key_hash`,
    ),
    // Per witness key: its row of the largest size (SQLite takes the bare columns from the max() row; the
    // primary key leaves one row per size and witness key).
    newestCosignatures: s(
      `SELECT size, witnessName, keyHash, line, timestamp FROM (
         SELECT ${COSIGNATURE_COLUMNS}, max(size) FROM audit_cosignatures GROUP BY witness_name, key_hash)
       ORDER BY witnessName, keyHash`,
    ),
    auditTail: s('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
    auditRowBySeq: s(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq = ?`),
    auditRowsByRequestId: s(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE request_id = ? ORDER BY seq LIMIT ?`,
    ),
    auditChainPage: s(
      `SELECT hash, seq, prev_hash, ${CANONICAL_TEXT} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`,
    ).raw(),
    firstSeqAtOrAfter: s('SELECT min(seq) FROM audit_log WHERE time >= ?').pluck(),
    auditRowsPage: s(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`),
    auditRowsSincePage: s(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? AND time >= ? ORDER BY seq LIMIT ?`,
    ),
    insertAudit: s(
      `INSERT INTO audit_log (seq, time, prev_hash, hash, action, result, reason, issuer, subject, user_name,
         key_name, key_version, key_id, object_id, client_address, request_id)
       VALUES (@seq, @time, @prevHash, @hash, @action, @result, @reason, @issuer, @subject, @userName,
         @keyName, @keyVersion, @keyId, @objectId, @clientAddress, @requestId)`,
    ),
  };
}

function emptyPolicy(): KeyPolicy {
  return { users: [], groups: [], roles: [], tenants: [] };
}

function toKeyRecord(row: KeyRow): KeyRecord {
  return { ...row, policy: parseStoredPolicy(row.policy, row.name) };
}
