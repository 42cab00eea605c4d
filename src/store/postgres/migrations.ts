/**
 * The PostgreSQL schema, as numbered migrations with the same numbers and descriptions as the SQLite ones
 * (src/store/migrations.ts; a test keeps them in step). A migration is never edited once released.
 * Differences from SQLite: BYTEA for hashes and sealed keys, BIGINT for sequence numbers and sizes, text
 * columns in the "C" collation (byte order, like SQLite's, whatever the database's default collation), and
 * `audit_head`, the one row every audit append locks so that the log never forks across instances.
 * Times stay TEXT: the audit hash covers their exact text.
 */
import type { ClientBase } from 'pg';
import { DkeError } from '../../errors/index.js';

export interface PostgresMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    description: 'keys, key versions, policies, revoked objects, audit log',
    sql: `
      CREATE TABLE meta (
        name  TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
      );

      CREATE TABLE keys (
        name           TEXT COLLATE "C" PRIMARY KEY,
        protocol       TEXT NOT NULL CHECK (protocol IN ('native', 'ms-dke')),
        state          TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'destroyed')),
        active_version INTEGER NOT NULL,
        cache_seconds  INTEGER,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL
      );

      CREATE TABLE key_versions (
        key_name           TEXT COLLATE "C" NOT NULL REFERENCES keys (name),
        version            INTEGER NOT NULL,
        key_id             TEXT COLLATE "C" NOT NULL CONSTRAINT key_versions_key_id_key UNIQUE,
        spec               TEXT NOT NULL,
        public_jwk         TEXT NOT NULL,
        sealed_private_key BYTEA,
        created_at         TEXT NOT NULL,
        destroyed_at       TEXT,
        PRIMARY KEY (key_name, version)
      );

      CREATE TABLE key_policies (
        key_name   TEXT COLLATE "C" PRIMARY KEY REFERENCES keys (name),
        policy     TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE revoked_objects (
        key_name   TEXT COLLATE "C" NOT NULL REFERENCES keys (name),
        object_id  TEXT COLLATE "C" NOT NULL,
        revoked_at TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (key_name, object_id)
      );

      CREATE TABLE audit_log (
        seq            BIGINT PRIMARY KEY CHECK (seq > 0),
        time           TEXT COLLATE "C" NOT NULL,
        prev_hash      TEXT COLLATE "C" NOT NULL,
        hash           TEXT COLLATE "C" NOT NULL,
        action         TEXT COLLATE "C" NOT NULL,
        result         TEXT COLLATE "C" NOT NULL,
        reason         TEXT COLLATE "C",
        issuer         TEXT COLLATE "C",
        subject        TEXT COLLATE "C",
        user_name      TEXT COLLATE "C",
        key_name       TEXT COLLATE "C",
        key_version    INTEGER,
        key_id         TEXT COLLATE "C",
        object_id      TEXT COLLATE "C",
        client_address TEXT COLLATE "C",
        request_id     TEXT COLLATE "C"
      );
      CREATE INDEX audit_by_key_name ON audit_log (key_name, seq);
      CREATE INDEX audit_by_object_id ON audit_log (object_id, seq);
      CREATE INDEX audit_by_subject ON audit_log (subject, seq);
      CREATE INDEX audit_by_user_name ON audit_log (user_name, seq);
      CREATE INDEX audit_by_time ON audit_log (time);

      -- Append-only by construction: a mistaken UPDATE, DELETE or TRUNCATE fails. (Someone with raw write
      -- access can drop these triggers; the hash chain is what detects that.)
      CREATE FUNCTION opendke_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END
      $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION opendke_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION opendke_append_only();

      -- The last record (seq 0 and no hash: none yet). Every append locks this one row first (SELECT ... FOR
      -- UPDATE), so appends from all instances run one after another and each continues the previous one.
      CREATE TABLE audit_head (
        id   SMALLINT PRIMARY KEY CHECK (id = 1),
        seq  BIGINT NOT NULL CHECK (seq >= 0),
        hash TEXT COLLATE "C"
      );
      INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);
    `,
  },
  {
    version: 2,
    description: 'security events: failed authentications per client address, reason and minute',
    sql: `
      CREATE TABLE security_events (
        window_start   TEXT COLLATE "C" NOT NULL,
        client_address TEXT COLLATE "C" NOT NULL,
        reason         TEXT COLLATE "C" NOT NULL,
        issuer         TEXT COLLATE "C" NOT NULL DEFAULT '',
        subject        TEXT COLLATE "C" NOT NULL DEFAULT '',
        count          BIGINT NOT NULL CHECK (count > 0),
        first_seen     TEXT COLLATE "C" NOT NULL,
        last_seen      TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (window_start, client_address, reason, issuer, subject)
      );
      CREATE INDEX security_events_by_last_seen ON security_events (last_seen);
      CREATE INDEX security_events_by_address ON security_events (client_address, last_seen);
      CREATE INDEX security_events_by_subject ON security_events (subject, last_seen);
    `,
  },
  {
    version: 3,
    description: 'audit Merkle tree: complete-subtree hashes; audit records by request id',
    // Node (level, idx) is the RFC 6962 hash of entries [idx*2^level, (idx+1)*2^level); only complete
    // subtrees are stored, each written once, in the transaction that appends the entry completing it.
    // The head also records the tree size, which an append checks against the records before writing.
    sql: `
      CREATE TABLE audit_tree (
        level SMALLINT NOT NULL CHECK (level >= 0 AND level < 64),
        idx   BIGINT NOT NULL CHECK (idx >= 0),
        hash  BYTEA NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
      );
      CREATE TRIGGER audit_tree_no_update BEFORE UPDATE OR DELETE ON audit_tree
        FOR EACH ROW EXECUTE FUNCTION opendke_append_only();
      CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
        FOR EACH STATEMENT EXECUTE FUNCTION opendke_append_only();
      CREATE INDEX audit_by_request_id ON audit_log (request_id, seq);
      ALTER TABLE audit_head ADD COLUMN tree_size BIGINT NOT NULL DEFAULT 0 CHECK (tree_size >= 0);
    `,
  },
  {
    version: 4,
    description: 'witnessed logs: the latest cosigned size and root per origin (tlog-witness)',
    sql: `
      CREATE TABLE witnessed_logs (
        origin     TEXT COLLATE "C" PRIMARY KEY,
        size       BIGINT NOT NULL CHECK (size >= 0),
        root       BYTEA NOT NULL CHECK (length(root) = 32),
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 5,
    description: 'signed audit checkpoints and witness cosignatures',
    sql: `
      CREATE TABLE audit_checkpoints (
        size       BIGINT PRIMARY KEY CHECK (size >= 0),
        root       BYTEA NOT NULL CHECK (length(root) = 32),
        note       TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE audit_cosignatures (
        size         BIGINT NOT NULL REFERENCES audit_checkpoints (size),
        witness_name TEXT COLLATE "C" NOT NULL,
        key_hash     BYTEA NOT NULL CHECK (length(key_hash) = 4),
        line         TEXT NOT NULL,
        timestamp    BIGINT NOT NULL CHECK (timestamp >= 0),
        PRIMARY KEY (size, witness_name, key_hash)
      );
      CREATE INDEX audit_cosignatures_by_witness ON audit_cosignatures (witness_name, key_hash, size);
    `,
  },
  {
    version: 6,
    description: 'key versions in a PKCS#11 token: the token reference (docs/hsm.md)',
    // NULL: a software key, sealed in sealed_private_key; otherwise the hex CKA_ID of the token's objects,
    // and sealed_private_key stays NULL (the store holds no copy of a token key).
    sql: `ALTER TABLE key_versions ADD COLUMN token_ref TEXT;`,
  },
];

export const POSTGRES_LATEST_SCHEMA_VERSION = POSTGRES_MIGRATIONS.reduce(
  (max, m) => Math.max(max, m.version),
  0,
);

/**
 * Serializes openers of one store: an advisory lock held until the migrating transaction ends. Keyed by the
 * schema, so two OpenDKE stores in different schemas of one database do not wait for each other.
 */
const MIGRATION_LOCK = `SELECT pg_advisory_xact_lock(1329877837, hashtext(coalesce(current_schema(), '')))`;

/**
 * Applies every migration not recorded in schema_version, in version order, in one transaction. Three
 * instances starting at once: the first migrates, the others wait for its lock and then find nothing to do.
 */
export async function migratePostgres(client: ClientBase, now: () => string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(MIGRATION_LOCK);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_version (
      version     INTEGER PRIMARY KEY,
      description TEXT NOT NULL,
      applied_at  TEXT NOT NULL
    )`);
    const applied = await appliedVersions(client);
    const newest = Math.max(0, ...applied);
    if (newest > POSTGRES_LATEST_SCHEMA_VERSION) throw newerSchema(newest);
    // Each migration that has not run, even one numbered below the newest that did (merged out of order).
    for (const migration of [...POSTGRES_MIGRATIONS].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query(
        'INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)',
        [migration.version, migration.description, now()],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** For read-only opens, which must not migrate: the schema has to be exactly what this code knows. */
export async function checkPostgresSchema(client: ClientBase): Promise<void> {
  const exists = await client.query<{ present: boolean }>(
    `SELECT to_regclass('schema_version') IS NOT NULL AS present`,
  );
  const applied = exists.rows[0]?.present === true ? await appliedVersions(client) : new Set<number>();
  const newest = Math.max(0, ...applied);
  if (newest > POSTGRES_LATEST_SCHEMA_VERSION) throw newerSchema(newest);
  if (POSTGRES_MIGRATIONS.some((migration) => !applied.has(migration.version))) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: 'the key store needs a schema upgrade',
      detail: `schema version ${newest}, this OpenDKE needs ${POSTGRES_LATEST_SCHEMA_VERSION}`,
      hint: 'open it once read-write (start the key service or run a `dke key` command) to upgrade it',
    });
  }
}

async function appliedVersions(client: ClientBase): Promise<Set<number>> {
  const result = await client.query<{ version: number }>('SELECT version FROM schema_version');
  return new Set(result.rows.map((row) => row.version));
}

function newerSchema(version: number): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', {
    message: 'the key store was written by a newer OpenDKE',
    detail: `schema version ${version}, this OpenDKE knows up to ${POSTGRES_LATEST_SCHEMA_VERSION}`,
    hint: 'upgrade OpenDKE',
  });
}
