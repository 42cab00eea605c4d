import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDkeError } from '../../src/errors/index.js';
import Database from 'better-sqlite3';
import {
  BACKFILL_LEAVES_PER_TRANSACTION,
  LATEST_SCHEMA_VERSION,
  MIGRATIONS,
  openSqliteStore,
  type AuditRow,
} from '../../src/store/index.js';
import { auditRecordHash, StoreAuditLog } from '../../src/audit/index.js';
import { rootPlan } from '../../src/transparency/proof-plan.js';
import { recordLeaf, referenceRoot } from '../support/mth.js';
import { auditRow, runStoreSuite, version } from './store-suite.js';
import { makeTempDir, removeDir, withTempDir } from './temp-dir.js';

runStoreSuite('sqlite', () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'store.db');
  return { open: () => openSqliteStore(file), cleanup: () => removeDir(dir) };
});

void describe('sqlite store', () => {
  const withDir = withTempDir;

  void test(
    "with busy timeout 0 a write under another connection's lock fails at once with ERR_STORE_BUSY, changing nothing",
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      const holder = openSqliteStore(file);
      const server = openSqliteStore(file);
      try {
        server.setBusyTimeout(0);
        assert.equal(server.unsafeDatabase().pragma('busy_timeout', { simple: true }), 0);
        holder.appendAuditRows((tail) => {
          const started = Date.now();
          assert.throws(
            () => server.appendAuditRows((t) => [auditRow(t, { action: 'second' })]),
            (e: unknown) => isDkeError(e, 'ERR_STORE_BUSY') && e.status === 503,
          );
          assert.throws(
            () => server.setMetaIfAbsent('m', 'v'),
            (e: unknown) => isDkeError(e, 'ERR_STORE_BUSY'),
          );
          assert.ok(Date.now() - started < 500, 'no blocking wait');
          // Reads are not blocked by a writer (WAL).
          assert.equal(server.getMeta('m'), undefined);
          return [auditRow(tail)];
        });
        assert.equal(server.auditTail()?.seq, 1);
        assert.equal(server.getMeta('m'), undefined);
        assert.equal(server.probeWriteLock(), 'free');
        assert.equal(
          server.unsafeDatabase().pragma('busy_timeout', { simple: true }),
          0,
          'probe restores it',
        );
      } finally {
        server.close();
        holder.close();
      }
    }),
  );

  void test(
    'durability pragmas, schema version and a private file',
    withDir((dir) => {
      const file = path.join(dir, 'sub', 'store.db');
      const store = openSqliteStore(file);
      try {
        const db = store.unsafeDatabase();
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        assert.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL');
        assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
        assert.equal(db.pragma('secure_delete', { simple: true }), 1);
        assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
        const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number };
        assert.equal(row.v, LATEST_SCHEMA_VERSION);
        if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      } finally {
        store.close();
      }
      // Reopening does not migrate twice.
      const again = openSqliteStore(file);
      const count = again.unsafeDatabase().prepare('SELECT count(*) AS n FROM schema_version').get() as {
        n: number;
      };
      again.close();
      // One row per migration (versions may have gaps while parallel branches are merged).
      assert.equal(count.n, MIGRATIONS.length);
    }),
  );

  void test(
    'a version-1 store (as the previous release wrote it) is upgraded in place, its data kept',
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      // Exactly what the previous release's migrate() left: migration 1 and its schema_version row.
      const old = new Database(file);
      old.pragma('journal_mode = WAL');
      old.exec(`CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
      old.exec((MIGRATIONS[0] as { sql: string }).sql);
      old.prepare('INSERT INTO schema_version VALUES (1, ?, ?)').run('v1', '2025-01-01T00:00:00.000Z');
      old.prepare("INSERT INTO meta VALUES ('master_key_check', 'check')").run();
      const row = auditRow(undefined, { requestId: 'from-v1' });
      old
        .prepare(
          `INSERT INTO audit_log (seq, time, prev_hash, hash, action, result, request_id)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(row.seq, row.time, row.prevHash, row.hash, row.action, row.result, row.requestId);
      old.close();

      assert.throws(
        () => openSqliteStore(file, { readonly: true }),
        (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /schema upgrade/.test(e.message),
      );
      const store = openSqliteStore(file);
      try {
        const versions = store
          .unsafeDatabase()
          .prepare('SELECT version FROM schema_version ORDER BY version')
          .pluck()
          .all();
        assert.deepEqual(
          versions,
          MIGRATIONS.map((m) => m.version),
        );
        assert.equal(store.getMeta('master_key_check'), 'check');
        assert.deepEqual(store.queryAuditRows({ limit: 10 }), [row]);
        store.recordSecurityEvents(
          [
            {
              windowStart: '2025-01-01T00:00:00.000Z',
              clientAddress: '192.0.2.1',
              reason: 'ERR_AUTH_INVALID',
              issuer: '',
              subject: '',
              count: 1,
              firstSeen: '2025-01-01T00:00:01.000Z',
              lastSeen: '2025-01-01T00:00:01.000Z',
            },
          ],
          { maxRows: 10, notBefore: '2000-01-01T00:00:00.000Z' },
        );
        assert.equal(store.querySecurityEvents({ limit: 10 }).length, 1);
      } finally {
        store.close();
      }
    }),
  );

  /**
   * A store as an earlier release left it (schema `version`: 1 as of commit ede1e3d, or 2), holding `count`
   * audit records chained exactly as that code chained them, and no Merkle tree. Returns their leaves.
   */
  const writeOldStore = (file: string, version: 1 | 2, count: number): Buffer[] => {
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(`CREATE TABLE schema_version (
      version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
    const insertVersion = old.prepare('INSERT INTO schema_version VALUES (?, ?, ?)');
    for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
      old.exec(m.sql);
      insertVersion.run(m.version, m.description, '2025-01-01T00:00:00.000Z');
    }
    const insert = old.prepare(
      `INSERT INTO audit_log (seq, time, prev_hash, hash, action, result, reason, issuer, subject, user_name,
         key_name, key_version, key_id, object_id, client_address, request_id)
       VALUES (@seq, @time, @prevHash, @hash, @action, @result, @reason, @issuer, @subject, @userName,
         @keyName, @keyVersion, @keyId, @objectId, @clientAddress, @requestId)`,
    );
    const leaves: Buffer[] = [];
    old.transaction(() => {
      let tail: { seq: number; hash: string } | undefined;
      for (let seq = 1; seq <= count; seq++) {
        const unhashed = auditRow(tail, {
          subject: `user-${seq % 7} ü`,
          requestId: `req-${seq}`,
          keyVersion: seq % 5 === 0 ? null : seq,
        });
        const row = { ...unhashed, hash: auditRecordHash(unhashed) };
        insert.run(row);
        leaves.push(recordLeaf(row));
        tail = { seq: row.seq, hash: row.hash };
      }
    })();
    old.close();
    return leaves;
  };
  const treeRoot = (store: ReturnType<typeof openSqliteStore>, size: number): Buffer => {
    const plan = rootPlan(size);
    return plan.assemble(store.readAuditTreeNodes(plan.nodes))[0] as Buffer;
  };

  for (const version of [1, 2] as const) {
    void test(
      `a version-${version} store with records gets its Merkle tree built when opened for writing; appends continue it`,
      withDir((dir) => {
        const file = path.join(dir, 'store.db');
        const count = 2 * BACKFILL_LEAVES_PER_TRANSACTION + 3; // three backfill transactions
        const leaves = writeOldStore(file, version, count);
        const store = openSqliteStore(file);
        try {
          assert.equal(store.treeBackfill?.leaves, count);
          assert.equal(store.auditTreeSize(), count);
          assert.deepEqual(treeRoot(store, count), referenceRoot(leaves));
          const log = new StoreAuditLog(store);
          const report = log.verify();
          assert.deepEqual([report.ok, report.records], [true, count]);
          assert.equal(report.rootHash, referenceRoot(leaves).toString('hex'));
          const appended = store.appendAuditRows((tail) => {
            const unhashed = auditRow(tail, { requestId: 'after-upgrade' });
            return [{ ...unhashed, hash: auditRecordHash(unhashed) }];
          });
          leaves.push(recordLeaf(appended[0] as AuditRow));
          assert.deepEqual(treeRoot(store, count + 1), referenceRoot(leaves));
          assert.equal(log.verify().ok, true);
        } finally {
          store.close();
        }
        const again = openSqliteStore(file);
        assert.equal(again.treeBackfill?.leaves, 0, 'a complete tree is not rebuilt');
        again.close();
      }),
    );
  }

  void test(
    'a backfill interrupted by a crash resumes from the stored tree size; until then appends are refused',
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      const count = 1234;
      const leaves = writeOldStore(file, 1, count);
      const store = openSqliteStore(file);
      const kept = 1000;
      // What a crash after the committed transactions covering the first `kept` leaves leaves behind.
      store
        .unsafeDatabase()
        .exec(
          `DROP TRIGGER audit_tree_no_delete; DELETE FROM audit_tree WHERE (idx + 1) * (1 << level) > ${kept};`,
        );
      assert.equal(store.auditTreeSize(), kept);
      assert.throws(
        () => store.appendAuditRows((tail) => [auditRow(tail)]),
        (e: unknown) =>
          isDkeError(e, 'ERR_AUDIT_UNAVAILABLE') &&
          /covers 1000 records but the log has 1234/.test(e.detail ?? ''),
      );
      store.close();

      const reader = openSqliteStore(file, { readonly: true });
      assert.equal(reader.treeBackfill, undefined);
      assert.equal(reader.auditTreeSize(), kept, 'a read-only open writes nothing');
      const partial = new StoreAuditLog(reader).verify();
      assert.deepEqual(
        [partial.ok, partial.records],
        [true, count],
        'the partial tree is checked at its size',
      );
      reader.close();

      const resumed = openSqliteStore(file);
      try {
        assert.equal(resumed.treeBackfill?.leaves, count - kept);
        assert.deepEqual(treeRoot(resumed, count), referenceRoot(leaves));
        for (const size of [1, kept, kept + 1, count]) {
          assert.deepEqual(treeRoot(resumed, size), referenceRoot(leaves.slice(0, size)), `size ${size}`);
        }
        resumed.appendAuditRows((tail) => [auditRow(tail)]);
        assert.equal(resumed.auditTreeSize(), count + 1);
      } finally {
        resumed.close();
      }
    }),
  );

  void test(
    'a gap in an old log stops the backfill (fail closed) instead of building a wrong tree',
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      writeOldStore(file, 1, 20);
      const db = new Database(file);
      db.exec('DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 7;');
      db.close();
      assert.throws(
        () => openSqliteStore(file),
        (e: unknown) => isDkeError(e, 'ERR_AUDIT_UNAVAILABLE') && /record 7 is missing/.test(e.detail ?? ''),
      );
    }),
  );

  void test(
    'a store written by a newer schema is refused',
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      const store = openSqliteStore(file);
      store.unsafeDatabase().prepare("INSERT INTO schema_version VALUES (999, 'future', 'now')").run();
      store.close();
      assert.throws(
        () => openSqliteStore(file),
        (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /newer OpenDKE/.test(e.message),
      );
      assert.throws(
        () => openSqliteStore(file, { readonly: true }),
        (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
      );
    }),
  );

  void test(
    'read-only opens read but never write, and need an existing file',
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      assert.throws(
        () => openSqliteStore(file, { readonly: true }),
        (e: unknown) => isDkeError(e, 'ERR_IO'),
      );
      const writer = openSqliteStore(file);
      writer.createKey(
        { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
        version('v1'),
      );
      const reader = openSqliteStore(file, { readonly: true });
      try {
        assert.equal(reader.getKey('k')?.name, 'k');
        assert.throws(
          () => reader.revokeObject('k', 'o', 'now'),
          (e: unknown) => isDkeError(e, 'ERR_IO'),
        );
        assert.equal(reader.isObjectRevoked('k', 'o'), false);
      } finally {
        reader.close();
        writer.close();
      }
    }),
  );

  void test(
    "two connections to one file see each other's commits at once",
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      const server = openSqliteStore(file);
      const cli = openSqliteStore(file);
      try {
        server.createKey(
          { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
          version('v1'),
        );
        assert.equal(server.getKey('k')?.state, 'enabled');
        cli.updateKey('k', { state: 'disabled', updatedAt: 'later' });
        assert.equal(server.getKey('k')?.state, 'disabled');
        const v2 = cli.addKeyVersion('k', () => version('v2'));
        const v3 = server.addKeyVersion('k', () => version('v3'));
        assert.deepEqual([v2.version, v3.version], [2, 3]);
      } finally {
        server.close();
        cli.close();
      }
    }),
  );

  void test(
    'the audit table rejects UPDATE and DELETE',
    withDir((dir) => {
      const store = openSqliteStore(path.join(dir, 'store.db'));
      try {
        const db = store.unsafeDatabase();
        store.appendAuditRows((tail) => [auditRow(tail)]);
        assert.throws(() => db.prepare("UPDATE audit_log SET action = 'x'").run(), /append-only/);
        assert.throws(() => db.prepare('DELETE FROM audit_log').run(), /append-only/);
      } finally {
        store.close();
      }
    }),
  );

  void test(
    'destroyKey leaves no copy of the sealed material in the database or WAL file',
    withDir((dir) => {
      const file = path.join(dir, 'store.db');
      const secret = crypto.randomBytes(1800); // spills into an overflow page, like an RSA-4096 key
      const small = crypto.randomBytes(150);
      const store = openSqliteStore(file);
      const contains = (needle: Buffer): boolean =>
        [file, `${file}-wal`].some(
          (f) => fs.existsSync(f) && fs.readFileSync(f).includes(needle.subarray(0, 32)),
        );
      try {
        store.createKey(
          { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
          version('v1', secret),
        );
        store.addKeyVersion('k', () => version('v2', small));
        // Other rows written after it, so the pages are shared and rewritten rather than just dropped.
        store.createKey(
          { name: 'other', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
          version('v3'),
        );
        assert.ok(contains(secret) && contains(small), 'the material is on disk before destroy');
        store.destroyKey('k', 'now');
        assert.ok(!contains(secret), 'large material is gone');
        assert.ok(!contains(small), 'small material is gone');
        assert.deepEqual(store.listKeyVersions('other')[0]?.sealedPrivateKey, Buffer.from('sealed:v3'));
      } finally {
        store.close();
      }
    }),
  );
});
