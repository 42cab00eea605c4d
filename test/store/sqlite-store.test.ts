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
  return {
    open: () => Promise.resolve(openSqliteStore(file)),
    cleanup: () => Promise.resolve(removeDir(dir)),
  };
});

void describe('sqlite store', () => {
  const withDir = withTempDir;

  void test(
    "with busy timeout 0 a write under another connection's lock fails at once with ERR_STORE_BUSY, changing nothing",
    withDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      const holder = openSqliteStore(file);
      const server = openSqliteStore(file);
      try {
        server.setBusyTimeout(0);
        assert.equal(server.unsafeDatabase().pragma('busy_timeout', { simple: true }), 0);
        // The SQLite backend runs each call synchronously before its promise settles, so calls started
        // inside holder's write transaction (which `build` runs in) meet its lock.
        let attempts: Promise<unknown>[] = [];
        let read: Promise<string | undefined> | undefined;
        let probe: Promise<string> | undefined;
        await holder.appendAuditRows((tail) => {
          const started = Date.now();
          attempts = [
            server.appendAuditRows((t) => [auditRow(t, { action: 'second' })]),
            server.setMetaIfAbsent('m', 'v'),
            server.compareAndSetWitnessedLog('o', 0n, 1n, Buffer.alloc(32), 'now'),
          ];
          // Checked below, after holder's commit is flushed (a macrotask later): handled from now on.
          for (const attempt of attempts) attempt.catch(() => undefined);
          probe = server.probeHealth();
          assert.ok(Date.now() - started < 500, 'no blocking wait');
          // Reads are not blocked by a writer (WAL).
          read = server.getMeta('m');
          return [auditRow(tail)];
        });
        for (const attempt of attempts) {
          await assert.rejects(attempt, (e: unknown) => isDkeError(e, 'ERR_STORE_BUSY') && e.status === 503);
        }
        assert.equal(await read, undefined);
        assert.equal(await probe, 'locked', 'the probe sees the lock and does not wait for it');
        assert.equal((await server.auditTail())?.seq, 1);
        assert.equal(await server.getMeta('m'), undefined);
        assert.equal(await server.probeHealth(), 'ok');
        assert.equal(
          server.unsafeDatabase().pragma('busy_timeout', { simple: true }),
          0,
          'probe restores it',
        );
        assert.equal((await server.auditTail())?.seq, 1, 'the probe wrote nothing');
      } finally {
        await server.close();
        await holder.close();
      }
    }),
  );

  void test(
    'durability pragmas, schema version and a private file',
    withDir(async (dir) => {
      const file = path.join(dir, 'sub', 'store.db');
      const store = openSqliteStore(file);
      try {
        const db = store.unsafeDatabase();
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        // NORMAL, with the WAL flushed after every write before it resolves (wal-sync.ts): FULL's durability.
        assert.equal(db.pragma('synchronous', { simple: true }), 1, 'synchronous=NORMAL');
        assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
        assert.equal(db.pragma('secure_delete', { simple: true }), 1);
        assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
        const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number };
        assert.equal(row.v, LATEST_SCHEMA_VERSION);
        if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      } finally {
        await store.close();
      }
      // Reopening does not migrate twice.
      const again = openSqliteStore(file);
      const count = again.unsafeDatabase().prepare('SELECT count(*) AS n FROM schema_version').get() as {
        n: number;
      };
      await again.close();
      assert.equal(count.n, MIGRATIONS.length, 'each migration once');
    }),
  );

  void test(
    'a version-1 store (as the previous release wrote it) is upgraded in place, its data kept',
    withDir(async (dir) => {
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
        assert.equal(await store.getMeta('master_key_check'), 'check');
        assert.deepEqual(await store.queryAuditRows({ limit: 10 }), [row]);
        await store.recordSecurityEvents(
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
        assert.equal((await store.querySecurityEvents({ limit: 10 })).length, 1);
      } finally {
        await store.close();
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
  const treeRoot = async (store: ReturnType<typeof openSqliteStore>, size: number): Promise<Buffer> => {
    const plan = rootPlan(size);
    return plan.assemble(await store.readAuditTreeNodes(plan.nodes))[0] as Buffer;
  };

  for (const version of [1, 2] as const) {
    void test(
      `a version-${version} store with records gets its Merkle tree built when opened for writing; appends continue it`,
      withDir(async (dir) => {
        const file = path.join(dir, 'store.db');
        const count = 2 * BACKFILL_LEAVES_PER_TRANSACTION + 3; // three backfill transactions
        const leaves = writeOldStore(file, version, count);
        const store = openSqliteStore(file);
        try {
          assert.equal(store.treeBackfill?.leaves, count);
          assert.equal(await store.auditTreeSize(), count);
          assert.deepEqual(await treeRoot(store, count), referenceRoot(leaves));
          const log = new StoreAuditLog(store);
          const report = await log.verify();
          assert.deepEqual([report.ok, report.records], [true, count]);
          assert.equal(report.rootHash, referenceRoot(leaves).toString('hex'));
          const appended = await store.appendAuditRows((tail) => {
            const unhashed = auditRow(tail, { requestId: 'after-upgrade' });
            return [{ ...unhashed, hash: auditRecordHash(unhashed) }];
          });
          leaves.push(recordLeaf(appended[0] as AuditRow));
          assert.deepEqual(await treeRoot(store, count + 1), referenceRoot(leaves));
          assert.equal((await log.verify()).ok, true);
        } finally {
          await store.close();
        }
        const again = openSqliteStore(file);
        assert.equal(again.treeBackfill?.leaves, 0, 'a complete tree is not rebuilt');
        await again.close();
      }),
    );
  }

  void test(
    'a backfill interrupted by a crash resumes from the stored tree size; until then appends are refused',
    withDir(async (dir) => {
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
      assert.equal(await store.auditTreeSize(), kept);
      await assert.rejects(
        () => store.appendAuditRows((tail) => [auditRow(tail)]),
        (e: unknown) =>
          isDkeError(e, 'ERR_AUDIT_UNAVAILABLE') &&
          /covers 1000 records but the log has 1234/.test(e.detail ?? ''),
      );
      await store.close();

      const reader = openSqliteStore(file, { readonly: true });
      assert.equal(reader.treeBackfill, undefined);
      assert.equal(await reader.auditTreeSize(), kept, 'a read-only open writes nothing');
      const partial = await new StoreAuditLog(reader).verify();
      assert.deepEqual(
        [partial.ok, partial.records],
        [true, count],
        'the partial tree is checked at its size',
      );
      await reader.close();

      const resumed = openSqliteStore(file);
      try {
        assert.equal(resumed.treeBackfill?.leaves, count - kept);
        assert.deepEqual(await treeRoot(resumed, count), referenceRoot(leaves));
        for (const size of [1, kept, kept + 1, count]) {
          assert.deepEqual(
            await treeRoot(resumed, size),
            referenceRoot(leaves.slice(0, size)),
            `size ${size}`,
          );
        }
        await resumed.appendAuditRows((tail) => [auditRow(tail)]);
        assert.equal(await resumed.auditTreeSize(), count + 1);
      } finally {
        await resumed.close();
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
    'a migration numbered below one already applied (branches merged out of order) still runs',
    withDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      const db = new Database(file);
      db.exec(`CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
      const [first, ...rest] = MIGRATIONS;
      const last = rest.at(-1) as { version: number; sql: string };
      db.exec((first as { sql: string }).sql);
      db.exec(last.sql);
      db.prepare('INSERT INTO schema_version VALUES (1, ?, ?)').run('v1', '2025-01-01T00:00:00.000Z');
      db.prepare('INSERT INTO schema_version VALUES (?, ?, ?)').run(
        last.version,
        'last',
        '2025-01-01T00:00:00.000Z',
      );
      db.close();
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
          MIGRATIONS.map((m) => m.version).sort((a, b) => a - b),
        );
        assert.equal((await store.querySecurityEvents({ limit: 1 })).length, 0, 'migration 2 ran');
      } finally {
        await store.close();
      }
    }),
  );

  void test(
    'a store written by a newer schema is refused',
    withDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      const store = openSqliteStore(file);
      store.unsafeDatabase().prepare("INSERT INTO schema_version VALUES (999, 'future', 'now')").run();
      await store.close();
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
    withDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      assert.throws(
        () => openSqliteStore(file, { readonly: true }),
        (e: unknown) => isDkeError(e, 'ERR_IO'),
      );
      const writer = openSqliteStore(file);
      await writer.createKey(
        { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
        version('v1'),
      );
      const reader = openSqliteStore(file, { readonly: true });
      try {
        assert.equal((await reader.getKey('k'))?.name, 'k');
        await assert.rejects(
          () => reader.revokeObject('k', 'o', 'now'),
          (e: unknown) => isDkeError(e, 'ERR_IO'),
        );
        assert.equal(await reader.isObjectRevoked('k', 'o'), false);
      } finally {
        await reader.close();
        await writer.close();
      }
    }),
  );

  void test(
    "two connections to one file see each other's commits at once",
    withDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      const server = openSqliteStore(file);
      const cli = openSqliteStore(file);
      try {
        await server.createKey(
          { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
          version('v1'),
        );
        assert.equal((await server.getKey('k'))?.state, 'enabled');
        await cli.updateKey('k', { state: 'disabled', updatedAt: 'later' });
        assert.equal((await server.getKey('k'))?.state, 'disabled');
        const v2 = await cli.addKeyVersion('k', () => version('v2'));
        const v3 = await server.addKeyVersion('k', () => version('v3'));
        assert.deepEqual([v2.version, v3.version], [2, 3]);
      } finally {
        await server.close();
        await cli.close();
      }
    }),
  );

  void test(
    'the audit table rejects UPDATE and DELETE',
    withDir(async (dir) => {
      const store = openSqliteStore(path.join(dir, 'store.db'));
      try {
        const db = store.unsafeDatabase();
        await store.appendAuditRows((tail) => [auditRow(tail)]);
        assert.throws(() => db.prepare("UPDATE audit_log SET action = 'x'").run(), /append-only/);
        assert.throws(() => db.prepare('DELETE FROM audit_log').run(), /append-only/);
      } finally {
        await store.close();
      }
    }),
  );

  void test(
    'destroyKey leaves no copy of the sealed material in the database or WAL file',
    withDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      const secret = crypto.randomBytes(1800); // spills into an overflow page, like an RSA-4096 key
      const small = crypto.randomBytes(150);
      const store = openSqliteStore(file);
      const contains = (needle: Buffer): boolean =>
        [file, `${file}-wal`].some(
          (f) => fs.existsSync(f) && fs.readFileSync(f).includes(needle.subarray(0, 32)),
        );
      try {
        await store.createKey(
          { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
          version('v1', secret),
        );
        await store.addKeyVersion('k', () => version('v2', small));
        // Other rows written after it, so the pages are shared and rewritten rather than just dropped.
        await store.createKey(
          { name: 'other', protocol: 'native', cacheSeconds: null, createdAt: 'now' },
          version('v3'),
        );
        assert.ok(contains(secret) && contains(small), 'the material is on disk before destroy');
        await store.destroyKey('k', 'now');
        assert.ok(!contains(secret), 'large material is gone');
        assert.ok(!contains(small), 'small material is gone');
        assert.deepEqual(
          (await store.listKeyVersions('other'))[0]?.sealedPrivateKey,
          Buffer.from('sealed:v3'),
        );
      } finally {
        await store.close();
      }
    }),
  );
});
