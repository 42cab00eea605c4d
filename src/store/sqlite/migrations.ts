/**
 * SQLite schema, as numbered migrations. A migration is never edited once released: schema changes are
 * new entries. `schema_version` records which ran; a store written by a newer OpenDKE is refused rather
 * than guessed at.
 */
import type { Database } from 'better-sqlite3';
import { DkeError } from '../../errors/index.js';

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'keys, key versions, policies, revoked objects, audit log',
    sql: `
      CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      CREATE TABLE keys (
        name           TEXT PRIMARY KEY,
        protocol       TEXT NOT NULL CHECK (protocol IN ('native', 'ms-dke')),
        state          TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'destroyed')),
        active_version INTEGER NOT NULL,
        cache_seconds  INTEGER,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL
      ) STRICT;

      CREATE TABLE key_versions (
        key_name           TEXT NOT NULL REFERENCES keys (name),
        version            INTEGER NOT NULL,
        key_id             TEXT NOT NULL UNIQUE,
        spec               TEXT NOT NULL,
        public_jwk         TEXT NOT NULL,
        sealed_private_key BLOB,
        created_at         TEXT NOT NULL,
        destroyed_at       TEXT,
        PRIMARY KEY (key_name, version)
      ) STRICT;

      CREATE TABLE key_policies (
        key_name   TEXT PRIMARY KEY REFERENCES keys (name),
        policy     TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE revoked_objects (
        key_name   TEXT NOT NULL REFERENCES keys (name),
        object_id  TEXT NOT NULL,
        revoked_at TEXT NOT NULL,
        PRIMARY KEY (key_name, object_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE audit_log (
        seq            INTEGER PRIMARY KEY,
        time           TEXT NOT NULL,
        prev_hash      TEXT NOT NULL,
        hash           TEXT NOT NULL,
        action         TEXT NOT NULL,
        result         TEXT NOT NULL,
        reason         TEXT,
        issuer         TEXT,
        subject        TEXT,
        user_name      TEXT,
        key_name       TEXT,
        key_version    INTEGER,
        key_id         TEXT,
        object_id      TEXT,
        client_address TEXT,
        request_id     TEXT
      ) STRICT;
      CREATE INDEX audit_by_key_name ON audit_log (key_name, seq);
      CREATE INDEX audit_by_object_id ON audit_log (object_id, seq);
      CREATE INDEX audit_by_subject ON audit_log (subject, seq);
      CREATE INDEX audit_by_user_name ON audit_log (user_name, seq);
      CREATE INDEX audit_by_time ON audit_log (time);
      -- Append-only by construction: a mistaken UPDATE/DELETE fails. (Someone with raw write access can drop
      -- these triggers; the hash chain is what detects that.)
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `,
  },
  {
    version: 2,
    description: 'security events: failed authentications per client address, reason and minute',
    sql: `
      CREATE TABLE security_events (
        window_start   TEXT NOT NULL,
        client_address TEXT NOT NULL,
        reason         TEXT NOT NULL,
        issuer         TEXT NOT NULL DEFAULT '',
        subject        TEXT NOT NULL DEFAULT '',
        count          INTEGER NOT NULL CHECK (count > 0),
        first_seen     TEXT NOT NULL,
        last_seen      TEXT NOT NULL,
        PRIMARY KEY (window_start, client_address, reason, issuer, subject)
      ) STRICT;
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
    // Records already in the log get their nodes when the store is next opened for writing (docs/audit.md).
    sql: `
      CREATE TABLE audit_tree (
        level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
        idx   INTEGER NOT NULL CHECK (idx >= 0),
        hash  BLOB NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
      ) STRICT, WITHOUT ROWID;
      CREATE TRIGGER audit_tree_no_update BEFORE UPDATE ON audit_tree
        BEGIN SELECT RAISE(ABORT, 'audit tree is append-only'); END;
      CREATE TRIGGER audit_tree_no_delete BEFORE DELETE ON audit_tree
        BEGIN SELECT RAISE(ABORT, 'audit tree is append-only'); END;
      CREATE INDEX audit_by_request_id ON audit_log (request_id, seq);
    `,
  },
  {
    version: 4,
    description: 'witnessed logs: the latest cosigned size and root per origin (tlog-witness)',
    sql: `
      CREATE TABLE witnessed_logs (
        origin     TEXT PRIMARY KEY,
        size       INTEGER NOT NULL CHECK (size >= 0),
        root       BLOB NOT NULL CHECK (length(root) = 32),
        updated_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    description: 'signed audit checkpoints and witness cosignatures',
    // One checkpoint per tree size (the tree is append-only: one size, one root); cosignatures are kept
    // apart from the note so a witness's line can be added after the log signed it.
    sql: `
      CREATE TABLE audit_checkpoints (
        size       INTEGER PRIMARY KEY CHECK (size >= 0),
        root       BLOB NOT NULL CHECK (length(root) = 32),
        note       TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE audit_cosignatures (
        size         INTEGER NOT NULL REFERENCES audit_checkpoints (size),
        witness_name TEXT NOT NULL,
        key_hash     BLOB NOT NULL CHECK (length(key_hash) = 4),
        line         TEXT NOT NULL,
        timestamp    INTEGER NOT NULL CHECK (timestamp >= 0),
        PRIMARY KEY (size, witness_name, key_hash)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX audit_cosignatures_by_witness ON audit_cosignatures (witness_name, key_hash, size);
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/** Brings the schema up to date in one exclusive transaction, so two processes starting at once are safe. */
export function migrate(db: Database, now: () => string): void {
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      version     INTEGER PRIMARY KEY,
      description TEXT NOT NULL,
      applied_at  TEXT NOT NULL
    ) STRICT`);
    const current = currentSchemaVersion(db);
    if (current > LATEST_SCHEMA_VERSION) throw newerSchema(current);
    const applied = appliedVersions(db);
    const record = db.prepare(
      'INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)',
    );
    // Each migration that has not run, even one numbered below the newest that did: migrations written
    // on parallel branches (e.g. 4 merged before 3) still all run, in version order.
    for (const migration of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.description, now());
    }
  }).immediate();
}

/** For read-only opens, which must not migrate: the schema has to be exactly what this code knows. */
export function checkSchemaVersion(db: Database): void {
  const current = currentSchemaVersion(db);
  if (current > LATEST_SCHEMA_VERSION) throw newerSchema(current);
  const applied = appliedVersions(db);
  if (MIGRATIONS.some((migration) => !applied.has(migration.version))) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: 'the key store needs a schema upgrade',
      detail: `schema version ${current}, this OpenDKE needs ${LATEST_SCHEMA_VERSION}`,
      hint: 'open it once read-write (start the key service or run a `dke key` command) to upgrade it',
    });
  }
}

function currentSchemaVersion(db: Database): number {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (exists === undefined) return 0;
  const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

function appliedVersions(db: Database): Set<number> {
  if (currentSchemaVersion(db) === 0) return new Set();
  return new Set(db.prepare('SELECT version FROM schema_version').pluck().all() as number[]);
}

function newerSchema(version: number): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', {
    message: 'the key store was written by a newer OpenDKE',
    detail: `schema version ${version}, this OpenDKE knows up to ${LATEST_SCHEMA_VERSION}`,
    hint: 'upgrade OpenDKE',
  });
}
