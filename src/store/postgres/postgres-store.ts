/**
 * The PostgreSQL backend (docs/storage.md, "The PostgreSQL backend"): several `dke serve` instances share
 * one database. Every call is one statement or one READ COMMITTED transaction that takes the row locks it
 * needs up front: key changes lock the key's row, audit appends lock the single `audit_head` row, so
 * appends from all instances form one chain and one Merkle tree (the log never forks).
 */
import pg from 'pg';
import { DkeError } from '../../errors/index.js';
import type { NodeId } from '../../transparency/proof-plan.js';
import type {
  AuditActivityQuery,
  AuditActivityRow,
  AuditChainLink,
  AuditRow,
  AuditRowQuery,
  AuditTail,
  CheckpointRow,
  CosignatureRow,
  DkeStore,
  KeyRecord,
  KeyUpdate,
  KeyUseRecord,
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
import { appendInTransaction } from './audit-append.js';
import { auditActivitySql, checkActivityQuery, toActivityRow } from '../audit-activity.js';
import { excludedActions } from '../audit-query.js';
import {
  poolSettings,
  redactPostgresUrl,
  type PostgresConnectionOptions,
  type SslMode,
} from './connection.js';
import { asStoreError, isUniqueViolation } from './errors.js';
import { checkPostgresSchema, migratePostgres } from './migrations.js';
import { PostgresPool, type StoreWarning } from './pool.js';
import {
  AUDIT_COLUMNS,
  CHECKPOINT_COLUMNS,
  COSIGNATURE_COLUMNS,
  KEY_COLUMNS,
  KEY_FROM,
  SECURITY_EVENT_COLUMNS,
  VERSION_COLUMNS,
  decodeSecurityEvent,
  emptyPolicy,
  mergeSecurityEvents,
  toAuditRow,
  toChainLink,
  toKeyRecord,
  toVersionRecord,
  toWitnessedLog,
  type AuditArrayRow,
  type KeyRow,
  type WitnessedLogRow,
} from './rows.js';
import { decodeText, encodeText } from './text-codec.js';

export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /** Open without writing anything (no migration; the schema must be current): `dke audit verify`. */
  readonly readonly?: boolean;
  /** How long probeHealth waits for `SELECT 1`; default 1000 ms. */
  readonly probeTimeoutMs?: number;
  /**
   * After destroyKey, `VACUUM FULL key_versions`, so no dead row version holding the old sealed key is left
   * in the table's files; default true (docs/storage.md, "Destroying key material in PostgreSQL").
   */
  readonly vacuumAfterDestroy?: boolean;
  /** Problems no caller can be told about (an idle connection dropped, a VACUUM failed); default: ignored. */
  readonly onWarning?: StoreWarning;
}

/** How long the VACUUM FULL after a destroy waits for its exclusive lock on key_versions. */
const VACUUM_LOCK_WAIT_MS = 1000;

/** Rows per page when streaming the audit log (keyset pagination on seq). */
export const AUDIT_PAGE_ROWS = 1000;

/** Opens the pool, then migrates (or, read-only, checks) the schema. Rejects with DkeErrors only. */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const settings = poolSettings(url, options);
  // Read-only: every session refuses writes (default_transaction_read_only), not just this code.
  const config: pg.PoolConfig =
    options.readonly === true
      ? { ...settings.config, options: '-c default_transaction_read_only=on' }
      : settings.config;
  const pool = new PostgresPool(config, options.onWarning ?? (() => undefined));
  try {
    const client = await connectForOpen(config);
    try {
      if (options.readonly === true) await checkPostgresSchema(client);
      else await migratePostgres(client, () => new Date().toISOString());
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    await pool.end();
    throw asStoreError(error, 'could not open the key store');
  }
  return new PostgresStore(pool, {
    url: redactPostgresUrl(url),
    sslMode: settings.sslMode,
    probeTimeoutMs: options.probeTimeoutMs ?? 1000,
    vacuumAfterDestroy: options.vacuumAfterDestroy ?? true,
    warn: options.onWarning ?? (() => undefined),
  });
}

/**
 * Migrations run on a connection of their own (not from the pool), with the pool's settings: a failed
 * migration leaves no connection in an unknown state behind.
 */
async function connectForOpen(config: pg.PoolConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  client.on('error', () => undefined); // failures surface through the pending call
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

interface StoreSettings {
  /** The URL without password, for status output. */
  readonly url: string;
  readonly sslMode: SslMode;
  readonly probeTimeoutMs: number;
  readonly vacuumAfterDestroy: boolean;
  readonly warn: StoreWarning;
}

type Client = pg.PoolClient;

function keyExists(material: boolean): DkeError {
  return material
    ? new DkeError('ERR_KEY_EXISTS', {
        message: 'this key material is stored already (as another key or version)',
      })
    : new DkeError('ERR_KEY_EXISTS');
}

/** Unique violations of the key tables as ERR_KEY_EXISTS (name taken, or key id stored already). */
function asKeyConflict(error: unknown): unknown {
  if (isUniqueViolation(error, 'key_versions_key_id_key')) return keyExists(true);
  if (isUniqueViolation(error, 'keys_pkey') || isUniqueViolation(error, 'key_versions_pkey')) {
    return keyExists(false);
  }
  return error;
}

export class PostgresStore implements DkeStore {
  readonly backend = 'postgres';

  constructor(
    private readonly db: PostgresPool,
    private readonly settings: StoreSettings,
  ) {}

  /** The database URL without its password. */
  get url(): string {
    return this.settings.url;
  }

  // ---- metadata

  async getMeta(name: string): Promise<string | undefined> {
    const result = await this.db.read<{ value: string }>({
      text: 'SELECT value FROM meta WHERE name = $1',
      values: [name],
    });
    return result.rows[0]?.value;
  }

  async setMetaIfAbsent(name: string, value: string): Promise<string> {
    return this.db.transaction(async (c) => {
      // ON CONFLICT DO NOTHING waits for a concurrent insert of the same name to commit; the next
      // statement's snapshot then sees the winner's value.
      await c.query('INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
        name,
        value,
      ]);
      const stored = await c.query<{ value: string }>('SELECT value FROM meta WHERE name = $1', [name]);
      return (stored.rows[0] as { value: string }).value;
    });
  }

  async listMeta(): Promise<[name: string, value: string][]> {
    return this.db.readArrays<[string, string]>({ text: 'SELECT name, value FROM meta ORDER BY name' });
  }

  // ---- keys

  async createKey(key: NewKeyRecord, firstVersion: NewKeyVersion): Promise<void> {
    // One statement: key, empty policy and version 1 together, or (a unique violation) nothing.
    await this.db.transaction(async (c) => {
      await c
        .query(
          `WITH k AS (
             INSERT INTO keys (name, protocol, state, active_version, cache_seconds, created_at, updated_at)
             VALUES ($1, $2, 'enabled', 1, $3, $4, $4)
           ), p AS (
             INSERT INTO key_policies (key_name, policy, updated_at) VALUES ($1, $5, $4)
           )
           INSERT INTO key_versions
             (key_name, version, key_id, spec, public_jwk, sealed_private_key, token_ref, created_at)
           VALUES ($1, 1, $6, $7, $8, $9, $11, $10)`,
          [
            key.name,
            key.protocol,
            key.cacheSeconds,
            key.createdAt,
            JSON.stringify(emptyPolicy()),
            firstVersion.keyId,
            firstVersion.spec,
            firstVersion.publicJwk,
            firstVersion.sealedPrivateKey,
            firstVersion.createdAt,
            firstVersion.tokenRef ?? null,
          ],
        )
        .catch((error: unknown) => {
          throw asKeyConflict(error);
        });
    });
  }

  async importKey(
    key: KeyRecord,
    versions: readonly KeyVersionRecord[],
    revoked: readonly RevokedObject[],
  ): Promise<void> {
    await this.db.transaction(async (c) => {
      const fail = (error: unknown): never => {
        throw asKeyConflict(error);
      };
      await c
        .query(
          `INSERT INTO keys (name, protocol, state, active_version, cache_seconds, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            key.name,
            key.protocol,
            key.state,
            key.activeVersion,
            key.cacheSeconds,
            key.createdAt,
            key.updatedAt,
          ],
        )
        .catch(fail);
      await c.query('INSERT INTO key_policies (key_name, policy, updated_at) VALUES ($1, $2, $3)', [
        key.name,
        JSON.stringify(key.policy),
        key.updatedAt,
      ]);
      if (versions.length > 0) {
        await c
          .query(
            `INSERT INTO key_versions
               (key_name, version, key_id, spec, public_jwk, sealed_private_key, created_at, destroyed_at, token_ref)
             SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::text[], $9::text[])`,
            [
              key.name,
              versions.map((v) => v.version),
              versions.map((v) => v.keyId),
              versions.map((v) => v.spec),
              versions.map((v) => v.publicJwk),
              versions.map((v) => v.sealedPrivateKey),
              versions.map((v) => v.createdAt),
              versions.map((v) => v.destroyedAt),
              versions.map((v) => v.tokenRef ?? null),
            ],
          )
          .catch(fail);
      }
      if (revoked.length > 0) {
        await c.query(
          `INSERT INTO revoked_objects (key_name, object_id, revoked_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[])`,
          [key.name, revoked.map((r) => r.objectId), revoked.map((r) => r.revokedAt)],
        );
      }
    });
  }

  async getKey(name: string): Promise<KeyRecord | undefined> {
    const result = await this.db.read<KeyRow>({
      text: `SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} WHERE k.name = $1`,
      values: [name],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : toKeyRecord(row);
  }

  async listKeys(): Promise<KeyRecord[]> {
    const result = await this.db.read<KeyRow>({
      text: `SELECT ${KEY_COLUMNS} FROM ${KEY_FROM} ORDER BY k.name`,
    });
    return result.rows.map(toKeyRecord);
  }

  async listKeyVersions(name: string): Promise<KeyVersionRecord[]> {
    const result = await this.db.read<KeyVersionRecord>({
      text: `SELECT ${VERSION_COLUMNS} FROM key_versions WHERE key_name = $1 ORDER BY version`,
      values: [name],
    });
    return result.rows.map(toVersionRecord);
  }

  async getKeyVersion(name: string, keyId: string): Promise<KeyVersionRecord | undefined> {
    const result = await this.db.read<KeyVersionRecord>({
      text: `SELECT ${VERSION_COLUMNS} FROM key_versions WHERE key_name = $1 AND key_id = $2`,
      values: [name, keyId],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : toVersionRecord(row);
  }

  async getKeyForUse(name: string, keyId: string, objectId?: string): Promise<KeyUseRecord | undefined> {
    // One statement, so one snapshot and one round trip: key and policy, the version, the revocation.
    const result = await this.db.read<KeyRow & VersionColumns & { revoked: boolean }>({
      name: 'opendke_get_key_for_use',
      text: `SELECT ${KEY_COLUMNS},
               v.version AS "vVersion", v.key_id AS "vKeyId", v.spec AS "vSpec", v.public_jwk AS "vPublicJwk",
               v.sealed_private_key AS "vSealedPrivateKey", v.created_at AS "vCreatedAt",
               v.destroyed_at AS "vDestroyedAt", v.token_ref AS "vTokenRef",
               EXISTS (SELECT 1 FROM revoked_objects r WHERE r.key_name = k.name AND r.object_id = $3) AS revoked
             FROM ${KEY_FROM}
             LEFT JOIN key_versions v ON v.key_name = k.name AND v.key_id = $2
             WHERE k.name = $1`,
      values: [name, keyId, objectId ?? null],
    });
    const row = result.rows[0];
    if (row === undefined) return undefined;
    const version: KeyVersionRecord | undefined =
      row.vVersion === null
        ? undefined
        : {
            keyName: row.name,
            version: row.vVersion,
            keyId: row.vKeyId as string,
            spec: row.vSpec as KeyVersionRecord['spec'],
            publicJwk: row.vPublicJwk as string,
            sealedPrivateKey: row.vSealedPrivateKey,
            tokenRef: row.vTokenRef,
            createdAt: row.vCreatedAt as string,
            destroyedAt: row.vDestroyedAt,
          };
    return { key: toKeyRecord(row), version, objectRevoked: row.revoked };
  }

  async addKeyVersion(name: string, build: (version: number) => NewKeyVersion): Promise<KeyVersionRecord> {
    return this.db.transaction(async (c) => {
      await lockLiveKey(c, name);
      // After the lock: a rotation that committed while we waited is seen by this statement's snapshot.
      const latest = await c.query<{ latest: number }>(
        'SELECT coalesce(max(version), 0) AS latest FROM key_versions WHERE key_name = $1',
        [name],
      );
      const version = (latest.rows[0]?.latest ?? 0) + 1;
      const fresh = build(version);
      const inserted = await c
        .query<KeyVersionRecord>(
          `WITH v AS (
             INSERT INTO key_versions
               (key_name, version, key_id, spec, public_jwk, sealed_private_key, token_ref, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $8, $7)
             RETURNING ${VERSION_COLUMNS}
           ), k AS (
             UPDATE keys SET active_version = $2, updated_at = $7 WHERE name = $1
           )
           SELECT * FROM v`,
          [
            name,
            version,
            fresh.keyId,
            fresh.spec,
            fresh.publicJwk,
            fresh.sealedPrivateKey,
            fresh.createdAt,
            fresh.tokenRef ?? null,
          ],
        )
        .catch((error: unknown) => {
          throw asKeyConflict(error);
        });
      return toVersionRecord(inserted.rows[0] as KeyVersionRecord);
    });
  }

  async updateKey(name: string, update: KeyUpdate): Promise<void> {
    await this.db.transaction(async (c) => {
      await lockLiveKey(c, name);
      const sets: string[] = [];
      const values: unknown[] = [name, update.updatedAt];
      if (update.state !== undefined) {
        values.push(update.state);
        sets.push(`state = $${values.length}`);
      }
      if (update.cacheSeconds !== undefined) {
        values.push(update.cacheSeconds);
        sets.push(`cache_seconds = $${values.length}`);
      }
      if (update.policy !== undefined) {
        await c.query('UPDATE key_policies SET policy = $2, updated_at = $3 WHERE key_name = $1', [
          name,
          JSON.stringify(update.policy),
          update.updatedAt,
        ]);
      }
      if (sets.length > 0 || update.policy !== undefined) {
        await c.query(`UPDATE keys SET ${[...sets, 'updated_at = $2'].join(', ')} WHERE name = $1`, values);
      }
    });
  }

  async destroyKey(name: string, at: string): Promise<void> {
    await this.db.transaction(async (c) => {
      const key = await c.query<{ state: string }>(
        'SELECT state FROM keys WHERE name = $1 FOR NO KEY UPDATE',
        [name],
      );
      const state = key.rows[0]?.state;
      if (state === undefined) throw new DkeError('ERR_KEY_NOT_FOUND');
      // An UPDATE writes new row versions without the material; the old versions are dead tuples until
      // VACUUM (below). Rows destroyed already are left alone, so destroying again writes nothing.
      await c.query(
        `UPDATE key_versions SET sealed_private_key = NULL, destroyed_at = coalesce(destroyed_at, $2)
         WHERE key_name = $1 AND (sealed_private_key IS NOT NULL OR destroyed_at IS NULL)`,
        [name, at],
      );
      if (state !== 'destroyed') {
        await c.query(`UPDATE keys SET state = 'destroyed', updated_at = $2 WHERE name = $1`, [name, at]);
      }
    });
    // Also when the key was destroyed already: destroying again is how an operator retries a VACUUM that
    // failed (or was skipped) the first time.
    if (this.settings.vacuumAfterDestroy) await this.vacuumKeyVersions();
  }

  /**
   * Rewrites key_versions (and its TOAST table) into new files, so the dead row versions that still hold
   * destroyed material are gone from the database's files. Plain VACUUM is not enough: it removes the dead
   * tuple from the page's item list, but its bytes stay in the page's free space until reused. VACUUM FULL
   * locks the (small) table exclusively while it runs, so it waits for that lock at most VACUUM_LOCK_WAIT_MS
   * (unwraps queue behind a waiting VACUUM FULL) and otherwise gives up with a warning.
   */
  private async vacuumKeyVersions(): Promise<void> {
    try {
      await this.db.session(async (c) => {
        await c.query(`SET lock_timeout = ${VACUUM_LOCK_WAIT_MS}`);
        try {
          await c.query('VACUUM FULL key_versions');
        } finally {
          await c.query('RESET lock_timeout');
        }
      });
    } catch (error) {
      this.settings.warn(
        'VACUUM FULL key_versions after destroying a key failed; destroy the key again or run it by hand (docs/storage.md)',
        error instanceof DkeError ? (error.detail ?? error.message) : String(error),
      );
    }
  }

  // ---- object revocation

  async revokeObject(keyName: string, objectId: string, at: string): Promise<boolean> {
    return this.db.transaction(async (c) => {
      await lockLiveKey(c, keyName);
      const result = await c.query(
        `INSERT INTO revoked_objects (key_name, object_id, revoked_at) VALUES ($1, $2, $3)
         ON CONFLICT (key_name, object_id) DO NOTHING`,
        [keyName, objectId, at],
      );
      return result.rowCount === 1;
    });
  }

  async unrevokeObject(keyName: string, objectId: string): Promise<boolean> {
    return this.db.transaction(async (c) => {
      await lockLiveKey(c, keyName);
      const result = await c.query('DELETE FROM revoked_objects WHERE key_name = $1 AND object_id = $2', [
        keyName,
        objectId,
      ]);
      return result.rowCount === 1;
    });
  }

  async isObjectRevoked(keyName: string, objectId: string): Promise<boolean> {
    const result = await this.db.read({
      text: 'SELECT 1 FROM revoked_objects WHERE key_name = $1 AND object_id = $2',
      values: [keyName, objectId],
    });
    return result.rows.length > 0;
  }

  async listRevokedObjects(keyName: string): Promise<RevokedObject[]> {
    const result = await this.db.read<RevokedObject>({
      text: `SELECT object_id AS "objectId", revoked_at AS "revokedAt" FROM revoked_objects
             WHERE key_name = $1 ORDER BY revoked_at, object_id`,
      values: [keyName],
    });
    return result.rows;
  }

  // ---- audit log

  async appendAuditRows(
    build: (tail: AuditTail | undefined) => readonly AuditRow[],
  ): Promise<readonly AuditRow[]> {
    // Not rerun on conflicts: `build` runs once. (Appends take one lock only, so they cannot deadlock.)
    return this.db.transaction((c) => appendInTransaction(c, build), false);
  }

  async auditTreeSize(): Promise<number> {
    const result = await this.db.read<{ treeSize: number }>({
      text: 'SELECT tree_size AS "treeSize" FROM audit_head WHERE id = 1',
    });
    return result.rows[0]?.treeSize ?? 0;
  }

  async readAuditTreeNodes(ids: readonly NodeId[]): Promise<Buffer[]> {
    if (ids.length === 0) return [];
    // One statement: every node from the same snapshot, in the order asked.
    const result = await this.db.read<{ level: number; idx: number; hash: Buffer | null }>({
      text: `SELECT q.level, q.idx, t.hash
             FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
             LEFT JOIN audit_tree t ON t.level = q.level AND t.idx = q.idx
             ORDER BY q.ord`,
      values: [ids.map((id) => id.level), ids.map((id) => id.index)],
    });
    return result.rows.map((row) => {
      if (row.hash === null) {
        throw new DkeError('ERR_AUDIT_UNAVAILABLE', {
          detail: `audit tree node (${row.level}, ${row.idx}) is missing`,
        });
      }
      return row.hash;
    });
  }

  async getAuditRow(seq: number): Promise<AuditRow | undefined> {
    const rows = await this.db.readArrays<AuditArrayRow>({
      text: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq = $1`,
      values: [seq],
    });
    return rows[0] === undefined ? undefined : toAuditRow(rows[0]);
  }

  async findAuditRowsByRequestId(requestId: string, limit: number): Promise<AuditRow[]> {
    const rows = await this.db.readArrays<AuditArrayRow>({
      text: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE request_id = $1 ORDER BY seq LIMIT $2`,
      values: [encodeText(requestId), limit],
    });
    return rows.map(toAuditRow);
  }

  async auditTail(): Promise<AuditTail | undefined> {
    const result = await this.db.read<{ seq: number; hash: string | null }>({
      text: 'SELECT seq, hash FROM audit_head WHERE id = 1',
    });
    const head = result.rows[0];
    return head === undefined || head.seq === 0 || head.hash === null
      ? undefined
      : { seq: head.seq, hash: head.hash };
  }

  async *iterateAuditChain(): AsyncIterableIterator<AuditChainLink> {
    for await (const page of this.auditPages(0)) yield* page.map(toChainLink);
  }

  async queryAuditRows(query: AuditRowQuery): Promise<AuditRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (clause: (...n: string[]) => string, ...params: string[]): void => {
      const numbers = params.map((p) => {
        values.push(encodeText(p));
        return `$${values.length}`;
      });
      where.push(clause(...numbers));
    };
    if (query.keyName !== undefined) add((p) => `key_name = ${p}`, query.keyName);
    if (query.objectId !== undefined) add((p) => `object_id = ${p}`, query.objectId);
    if (query.subject !== undefined) add((p) => `subject = ${p}`, query.subject);
    if (query.identity !== undefined) {
      add((s, u) => `(subject = ${s} OR user_name = ${u})`, query.identity, query.identity.toLowerCase());
    }
    if (query.since !== undefined) add((p) => `time >= ${p}`, query.since);
    if (query.until !== undefined) add((p) => `time < ${p}`, query.until);
    if (query.action !== undefined) add((p) => `action = ${p}`, query.action);
    if (query.result !== undefined) add((p) => `result = ${p}`, query.result);
    const excluded = excludedActions(query);
    if (excluded.length > 0) add((...p) => `action NOT IN (${p.join(', ')})`, ...excluded);
    // Seq bounds ride on the primary key (or the (column, seq) indexes), so paging stays cheap.
    for (const [op, seq] of [
      ['<', query.beforeSeq],
      ['>', query.afterSeq],
    ] as const) {
      if (seq === undefined) continue;
      values.push(seq);
      where.push(`seq ${op} $${values.length}`);
    }
    values.push(query.limit);
    const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const order = query.afterSeq === undefined ? 'DESC' : 'ASC';
    const rows = await this.db.readArrays<AuditArrayRow>({
      text: `SELECT ${AUDIT_COLUMNS} FROM audit_log ${filter} ORDER BY seq ${order} LIMIT $${values.length}`,
      values,
    });
    return rows.map(toAuditRow);
  }

  async *iterateAuditRows(since?: string): AsyncIterableIterator<AuditRow> {
    if (since === undefined) {
      for await (const page of this.auditPages(0)) yield* page.map(toAuditRow);
      return;
    }
    // The time index finds the first matching seq; pages then run along the primary key from there, and
    // `time >= since` still filters (clocks can step back).
    const first = await this.db.read<{ first: number | null }>({
      text: 'SELECT min(seq) AS first FROM audit_log WHERE time >= $1',
      values: [encodeText(since)],
    });
    const from = first.rows[0]?.first;
    if (from === null || from === undefined) return;
    for await (const page of this.auditPages(from - 1, since)) yield* page.map(toAuditRow);
  }

  async auditActivity(query: AuditActivityQuery): Promise<AuditActivityRow[]> {
    checkActivityQuery(query);
    const rows = await this.db.readArrays<[string, string | null, number, number]>({
      text: auditActivitySql(query, (i) => `$${i}`),
      values: [query.since, query.until, query.series],
    });
    return rows.map(([bucket, name, releases, refusals]) =>
      toActivityRow(query, bucket, decodeText(name), releases, refusals),
    );
  }

  /** The records after `afterSeq` (and at or after `since`), in pages of AUDIT_PAGE_ROWS: keyset on seq. */
  private async *auditPages(afterSeq: number, since?: string): AsyncGenerator<AuditArrayRow[]> {
    let after = afterSeq;
    for (;;) {
      const page = await this.db.readArrays<AuditArrayRow>(
        since === undefined
          ? {
              name: 'opendke_audit_page',
              text: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT ${AUDIT_PAGE_ROWS}`,
              values: [after],
            }
          : {
              name: 'opendke_audit_page_since',
              text: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND time >= $2
                     ORDER BY seq LIMIT ${AUDIT_PAGE_ROWS}`,
              values: [after, encodeText(since)],
            },
      );
      const last = page[page.length - 1];
      if (last === undefined) return;
      yield page;
      if (page.length < AUDIT_PAGE_ROWS) return;
      after = last[0];
    }
  }

  // ---- checkpoints and cosignatures

  async storeCheckpoint(row: CheckpointRow): Promise<void> {
    await this.db.transaction(async (c) => {
      const inserted = await c.query(
        `INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (size) DO NOTHING`,
        [row.size, row.root, row.note, row.createdAt],
      );
      if (inserted.rowCount === 1) return;
      // ON CONFLICT waited for any concurrent insert of this size to commit: this statement sees that row.
      const stored = await c.query<{ root: Buffer }>('SELECT root FROM audit_checkpoints WHERE size = $1', [
        row.size,
      ]);
      const root = stored.rows[0]?.root;
      if (root !== undefined && !root.equals(row.root)) {
        throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
          detail: `a checkpoint of size ${row.size} with another root is stored already`,
        });
      }
    });
  }

  async latestCheckpoint(): Promise<CheckpointRow | undefined> {
    const result = await this.db.read<CheckpointRow>({
      text: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size DESC LIMIT 1`,
    });
    return result.rows[0];
  }

  async getCheckpoint(size: number): Promise<CheckpointRow | undefined> {
    const result = await this.db.read<CheckpointRow>({
      text: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE size = $1`,
      values: [size],
    });
    return result.rows[0];
  }

  async listCheckpoints(): Promise<CheckpointRow[]> {
    const result = await this.db.read<CheckpointRow>({
      text: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY size`,
    });
    return result.rows;
  }

  async storeCosignature(row: CosignatureRow): Promise<void> {
    await this.db.transaction((c) =>
      c.query(
        `INSERT INTO audit_cosignatures (size, witness_name, key_hash, line, timestamp)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (size, witness_name, key_hash) DO UPDATE SET line = excluded.line, timestamp = excluded.timestamp`,
        [row.size, row.witnessName, row.keyHash, row.line, row.timestamp],
      ),
    );
  }

  async listCosignatures(size: number): Promise<CosignatureRow[]> {
    const result = await this.db.read<CosignatureRow>({
      text: `SELECT ${COSIGNATURE_COLUMNS} FROM audit_cosignatures WHERE size = $1 ORDER BY witness_name, key_hash`,
      values: [size],
    });
    return result.rows;
  }

  async newestCosignatures(): Promise<CosignatureRow[]> {
    const result = await this.db.read<CosignatureRow>({
      text: `SELECT DISTINCT ON (witness_name, key_hash) ${COSIGNATURE_COLUMNS} FROM audit_cosignatures
             ORDER BY witness_name, key_hash, size DESC, timestamp DESC`,
    });
    return result.rows;
  }

  // ---- security events

  async recordSecurityEvents(
    rows: readonly SecurityEventRow[],
    retention: SecurityEventRetention,
  ): Promise<void> {
    const merged = mergeSecurityEvents(rows);
    await this.db.transaction(async (c) => {
      if (merged.length > 0) {
        // One multi-row upsert; rows merged (one statement cannot update a row twice) and sorted (two
        // instances lock rows in the same order).
        const column = (pick: (r: SecurityEventRow) => string): string[] =>
          merged.map((r) => encodeText(pick(r)));
        await c.query(
          `INSERT INTO security_events
             (window_start, client_address, reason, issuer, subject, count, first_seen, last_seen)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
             $7::text[], $8::text[])
           ON CONFLICT (window_start, client_address, reason, issuer, subject) DO UPDATE SET
             count = security_events.count + excluded.count,
             first_seen = least(security_events.first_seen, excluded.first_seen),
             last_seen = greatest(security_events.last_seen, excluded.last_seen)`,
          [
            column((r) => r.windowStart),
            column((r) => r.clientAddress),
            column((r) => r.reason),
            column((r) => r.issuer),
            column((r) => r.subject),
            merged.map((r) => r.count),
            column((r) => r.firstSeen),
            column((r) => r.lastSeen),
          ],
        );
      }
      await c.query('DELETE FROM security_events WHERE last_seen < $1', [encodeText(retention.notBefore)]);
      await c.query(
        `DELETE FROM security_events WHERE ctid IN
           (SELECT ctid FROM security_events ORDER BY last_seen DESC OFFSET $1)`,
        [Math.max(0, Math.trunc(retention.maxRows))],
      );
    });
  }

  async querySecurityEvents(query: SecurityEventQuery): Promise<SecurityEventRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (column: string, operator: string, value: string | undefined): void => {
      if (value === undefined) return;
      values.push(encodeText(value));
      where.push(`${column} ${operator} $${values.length}`);
    };
    add('last_seen', '>=', query.since);
    add('client_address', '=', query.clientAddress);
    add('reason', '=', query.reason);
    add('issuer', '=', query.issuer);
    add('subject', '=', query.subject);
    values.push(query.limit);
    const filter = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const result = await this.db.read<SecurityEventRow>({
      text: `SELECT ${SECURITY_EVENT_COLUMNS} FROM security_events ${filter}
             ORDER BY last_seen DESC, client_address, reason, issuer, subject LIMIT $${values.length}`,
      values,
    });
    return result.rows.map(decodeSecurityEvent);
  }

  // ---- witnessed logs

  async getWitnessedLog(origin: string): Promise<WitnessedLog | undefined> {
    const result = await this.db.read<WitnessedLogRow>({
      text: `SELECT origin, size::text AS size, root, updated_at AS "updatedAt" FROM witnessed_logs WHERE origin = $1`,
      values: [origin],
    });
    const row = result.rows[0];
    return row === undefined ? undefined : toWitnessedLog(row);
  }

  async listWitnessedLogs(): Promise<WitnessedLog[]> {
    const result = await this.db.read<WitnessedLogRow>({
      text: `SELECT origin, size::text AS size, root, updated_at AS "updatedAt" FROM witnessed_logs ORDER BY origin`,
    });
    return result.rows.map(toWitnessedLog);
  }

  async compareAndSetWitnessedLog(
    origin: string,
    oldSize: bigint,
    newSize: bigint,
    newRoot: Uint8Array,
    updatedAt: string,
  ): Promise<boolean> {
    const root = Buffer.from(newRoot);
    // One statement each: the row lock and the size check happen together, so of two racing submissions
    // from one old size exactly one changes the row (the other re-checks the new row and finds no match).
    const result = await this.db.transaction((c) =>
      oldSize === 0n
        ? c.query(
            `INSERT INTO witnessed_logs (origin, size, root, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,
               updated_at = excluded.updated_at
             WHERE witnessed_logs.size = 0`,
            [origin, newSize, root, updatedAt],
          )
        : c.query(
            'UPDATE witnessed_logs SET size = $3, root = $4, updated_at = $5 WHERE origin = $1 AND size = $2',
            [origin, oldSize, newSize, root, updatedAt],
          ),
    );
    return result.rowCount === 1;
  }

  // ---- health and lifecycle

  async probeHealth(): Promise<StoreHealth> {
    return (await this.db.probe(this.settings.probeTimeoutMs)) ? 'ok' : 'unavailable';
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}

interface VersionColumns {
  readonly vVersion: number | null;
  readonly vKeyId: string | null;
  readonly vSpec: string | null;
  readonly vPublicJwk: string | null;
  readonly vSealedPrivateKey: Buffer | null;
  readonly vTokenRef: string | null;
  readonly vCreatedAt: string | null;
  readonly vDestroyedAt: string | null;
}

/**
 * Locks the key's row until the transaction ends and checks it exists and is not destroyed: a change
 * racing a destroy in another instance waits for it and then fails ERR_KEY_DESTROYED.
 */
async function lockLiveKey(c: Client, name: string): Promise<void> {
  const key = await c.query<{ state: string }>('SELECT state FROM keys WHERE name = $1 FOR NO KEY UPDATE', [
    name,
  ]);
  const state = key.rows[0]?.state;
  if (state === undefined) throw new DkeError('ERR_KEY_NOT_FOUND');
  if (state === 'destroyed') throw new DkeError('ERR_KEY_DESTROYED');
}
