/**
 * `dke store copy` at the store level (src/store/copy.ts): real stores on both sides, SQLite to SQLite
 * always, and to and from PostgreSQL when DKE_TEST_POSTGRES_URL names a server (test/support/postgres.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { auditRecordHash, StoreAuditLog } from '../../src/audit/index.js';
import { isDkeError, type ErrorCode } from '../../src/errors/index.js';
import {
  assertMasterKeyMatches,
  KeyManager,
  MasterKey,
  openKeyService,
  serviceNoteKey,
} from '../../src/keystore/index.js';
import { copyStore, type StoreCopyProgress, type StoreCopyReport } from '../../src/store/copy.js';
import { verifyStoreCopy } from '../../src/store/copy-verify.js';
import { openStore } from '../../src/store/open.js';
import { openSqliteStore, type AuditRow, type DkeStore, type SqliteStore } from '../../src/store/index.js';
import { createTestDatabase, whenPostgres, type TestDatabase } from '../support/postgres.js';
import { ALICE, appendRecords, fillStore, LOG_NAME, WITNESS_NAME, type FilledStore } from './copy-fixture.js';
import { withTempDir } from './temp-dir.js';

const RECORDS = 3000;

async function rejectsWith(work: () => Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<Error> {
  let caught: unknown;
  await assert.rejects(work, (error: unknown) => {
    caught = error;
    return isDkeError(error, code) || assert.fail(`expected ${code}, got ${String(error)}`);
  });
  const error = caught as Error;
  if (message !== undefined) assert.match(error.message, message);
  return error;
}

/** A filled SQLite source, closed; the master key its keys are sealed under. */
async function sqliteSource(
  file: string,
  records = RECORDS,
): Promise<{ masterKey: MasterKey; facts: FilledStore }> {
  const masterKey = MasterKey.generate();
  const store = openSqliteStore(file);
  try {
    return { masterKey, facts: await fillStore(store, masterKey, records) };
  } finally {
    await store.close();
  }
}

function checkReport(report: StoreCopyReport, facts: FilledStore): void {
  assert.equal(report.meta, 3, 'master-key check value, audit-log key, witness key');
  assert.equal(report.keys, 5);
  assert.equal(report.keyVersions, 7, 'alpha 2, bravo 1, charlie 1, delta 1, echo 2 (destroyed)');
  assert.equal(report.revokedObjects, 4);
  assert.equal(report.auditRecords, facts.records);
  assert.equal(report.auditTail?.seq, facts.records);
  assert.equal(report.checkpoints, facts.checkpoints);
  assert.equal(report.cosignatures, facts.cosignatures);
  assert.equal(report.witnessedLogs, 2);
  assert.equal(report.securityEvents, 120);
  assert.match(report.rootHash, /^[0-9a-f]{64}$/);
}

const publicJwkOf = (key: KeyObject): crypto.JsonWebKey =>
  (key.type === 'public' ? key : crypto.createPublicKey(key)).export({ format: 'jwk' });

/**
 * The copy works as a key store with the same master key: the sealed keys unseal (to the private halves of
 * their public keys), state and policies still decide, the note keys open, the audit log verifies.
 */
async function checkServiceRunsOn(target: DkeStore, masterKey: MasterKey, facts: FilledStore): Promise<void> {
  await assertMasterKeyMatches(target, masterKey);
  await rejectsWith(() => assertMasterKeyMatches(target, MasterKey.generate()), 'ERR_MASTER_KEY');
  const keys = new KeyManager(target, masterKey);
  for (const { name, keyId } of facts.usable) {
    const { operator, version } = await keys.operatorFor(name, keyId, ALICE);
    assert.equal(version.keyId, keyId);
    const { kty, crv, x, y, n, e } = publicJwkOf(operator.publicKey);
    const expected = version.publicJwk as crypto.JsonWebKey;
    assert.deepEqual(
      { kty, crv, x, y, n, e },
      { kty: expected.kty, crv: expected.crv, x: expected.x, y: expected.y, n: expected.n, e: expected.e },
    );
  }
  await rejectsWith(
    () => keys.operatorFor(facts.unpoliced.name, facts.unpoliced.keyId, ALICE),
    'ERR_FORBIDDEN',
  );
  const disabled = await keys.describe(facts.disabled);
  await rejectsWith(
    () => keys.operatorFor(facts.disabled, disabled.versions[0]?.keyId as string, ALICE),
    'ERR_KEY_DISABLED',
  );
  const destroyed = await keys.describe(facts.destroyed);
  assert.equal(destroyed.state, 'destroyed');
  assert.ok(destroyed.versions.every((v) => v.destroyed));
  await rejectsWith(
    () => keys.operatorFor(facts.destroyed, destroyed.versions[1]?.keyId as string, ALICE),
    'ERR_KEY_DESTROYED',
  );
  assert.equal((await keys.listRevokedObjects('alpha')).length, 2);
  assert.equal((await serviceNoteKey(target, masterKey, 'audit-log', LOG_NAME)).verifierKey, facts.logVkey);
  assert.equal(
    (await serviceNoteKey(target, masterKey, 'witness', WITNESS_NAME)).verifierKey,
    facts.witnessVkey,
  );
  const audit = new StoreAuditLog(target);
  try {
    const checkpoints = await target.listCheckpoints();
    const report = await audit.verify(
      undefined,
      checkpoints.map((c) => ({ size: c.size, rootHash: c.root })),
    );
    assert.equal(report.ok, true);
    assert.equal(report.records, facts.records);
    // The service goes on appending to the copied log.
    await audit.append({ action: 'key.list', result: 'ok' });
    await audit.flush();
    assert.equal((await audit.verify()).records, facts.records + 1);
  } finally {
    await audit.close();
  }
}

async function copyWithProgress(
  source: DkeStore,
  target: DkeStore,
): Promise<[StoreCopyReport, StoreCopyProgress[]]> {
  const progress: StoreCopyProgress[] = [];
  const report = await copyStore(source, target, { onProgress: (p) => progress.push(p) });
  return [report, progress];
}

function checkProgress(progress: readonly StoreCopyProgress[], total: number): void {
  for (const phase of ['copy', 'verify'] as const) {
    const counts = progress.filter((p) => p.phase === phase).map((p) => p.records);
    assert.ok(counts.length >= 2, `${phase} reported progress more than once`);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      `${phase} progress only goes up`,
    );
    assert.equal(counts.at(-1), total);
  }
  assert.ok(progress.every((p) => p.total === total));
}

/** Runs raw SQL on a SQLite store through a connection of its own (what another process would do). */
async function tamper<T>(
  file: string,
  work: (db: ReturnType<SqliteStore['unsafeDatabase']>) => T,
): Promise<T> {
  const raw = openSqliteStore(file);
  try {
    return work(raw.unsafeDatabase());
  } finally {
    await raw.close();
  }
}

/** Drops the append-only triggers of a SQLite store (what an operator with file access can do). */
function dropAuditTriggers(store: SqliteStore): void {
  store
    .unsafeDatabase()
    .exec(
      'DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; ' +
        'DROP TRIGGER IF EXISTS audit_tree_no_update; DROP TRIGGER IF EXISTS audit_tree_no_delete;',
    );
}

const AUDIT_SELECT = `SELECT seq, time, prev_hash AS prevHash, hash, action, result, reason, issuer, subject,
  user_name AS userName, key_name AS keyName, key_version AS keyVersion, key_id AS keyId, object_id AS objectId,
  client_address AS clientAddress, request_id AS requestId FROM audit_log`;

/**
 * Rewrites history the way the Merkle log exists to catch: one record changed, every later hash recomputed
 * (the chain verifies on its own), the tree deleted so that the next write open rebuilds it.
 */
function rewriteHistory(store: SqliteStore, fromSeq: number): void {
  const db = store.unsafeDatabase();
  dropAuditTriggers(store);
  db.exec('DELETE FROM audit_tree');
  const rows = db.prepare(`${AUDIT_SELECT} WHERE seq >= ? ORDER BY seq`).all(fromSeq) as AuditRow[];
  let prevHash = (db.prepare('SELECT hash FROM audit_log WHERE seq = ?').get(fromSeq - 1) as { hash: string })
    .hash;
  const update = db.prepare('UPDATE audit_log SET subject = ?, prev_hash = ?, hash = ? WHERE seq = ?');
  for (const row of rows) {
    const changed = { ...row, prevHash, ...(row.seq === fromSeq ? { subject: 'someone-else' } : {}) };
    const hash = auditRecordHash(changed);
    update.run(changed.subject, prevHash, hash, row.seq);
    prevHash = hash;
  }
}

async function snapshot(store: DkeStore): Promise<unknown> {
  return {
    meta: await store.listMeta(),
    keys: await store.listKeys(),
    tail: await store.auditTail(),
    checkpoints: await store.listCheckpoints(),
  };
}

void describe('store copy: SQLite to SQLite', () => {
  void test(
    'a realistic store is copied exactly and verified; the key service runs on the copy with the same master key',
    withTempDir(async (dir) => {
      const from = path.join(dir, 'source.db');
      const to = path.join(dir, 'copy.db');
      const { masterKey, facts } = await sqliteSource(from);
      const source = await openStore(from, { readonly: true });
      const target = await openStore(to);
      try {
        const [report, progress] = await copyWithProgress(source, target);
        checkReport(report, facts);
        checkProgress(progress, facts.records);
        const head = await new StoreAuditLog(source).treeHead();
        assert.equal(report.rootHash, head.rootHash.toString('hex'), "the report's root is the source's");
      } finally {
        await source.close();
        await target.close();
      }
      // The real key service, opened on the copied file.
      const service = await openKeyService({ dbPath: to, masterKey });
      try {
        await checkServiceRunsOn(service.store, masterKey, facts);
      } finally {
        await service.close();
      }
      await rejectsWith(
        () => openKeyService({ dbPath: to, masterKey: MasterKey.generate() }),
        'ERR_MASTER_KEY',
      );
    }),
  );

  void test(
    'an empty store copies to an empty store',
    withTempDir(async (dir) => {
      await openSqliteStore(path.join(dir, 'empty.db')).close();
      const source = await openStore(path.join(dir, 'empty.db'), { readonly: true });
      const target = await openStore(path.join(dir, 'copy.db'));
      try {
        const report = await copyStore(source, target);
        assert.equal(report.auditRecords, 0);
        assert.equal(report.auditTail, undefined);
        assert.equal(report.keys, 0);
        assert.equal(report.rootHash, crypto.createHash('sha256').digest('hex'), 'the empty tree');
      } finally {
        await source.close();
        await target.close();
      }
    }),
  );

  void test(
    'a target that holds anything is refused and left as it was: a copy never merges',
    withTempDir(async (dir) => {
      const from = path.join(dir, 'source.db');
      await sqliteSource(from, 100);
      const source = await openStore(from, { readonly: true });
      const make = async (name: string, fill: (store: DkeStore) => Promise<unknown>): Promise<DkeStore> => {
        const store = await openStore(path.join(dir, name));
        await fill(store);
        return store;
      };
      const targets = [
        await make('meta.db', (s) => assertMasterKeyMatches(s, MasterKey.generate())),
        await make('key.db', async (s) => {
          const masterKey = MasterKey.generate();
          await assertMasterKeyMatches(s, masterKey);
          await new KeyManager(s, masterKey).create('only', { spec: 'P-256' });
        }),
        await make('audit.db', async (s) => {
          const audit = new StoreAuditLog(s);
          await audit.append({ action: 'key.list', result: 'ok' });
          await audit.close();
        }),
        await make('witnessed.db', (s) => s.compareAndSetWitnessedLog('o', 0n, 1n, Buffer.alloc(32), 'now')),
        await make('events.db', (s) =>
          s.recordSecurityEvents(
            [
              {
                windowStart: '2025-01-01T00:00:00.000Z',
                clientAddress: '192.0.2.1',
                reason: 'ERR_AUTH_MISSING',
                issuer: '',
                subject: '',
                count: 1,
                firstSeen: '2025-01-01T00:00:00.000Z',
                lastSeen: '2025-01-01T00:00:00.000Z',
              },
            ],
            { maxRows: 10, notBefore: '2024-01-01T00:00:00.000Z' },
          ),
        ),
      ];
      try {
        for (const target of targets) {
          const before = await snapshot(target);
          const error = await rejectsWith(
            () => copyStore(source, target),
            'ERR_STORE_NOT_EMPTY',
            /^the target key store is not empty \(it holds .+\); dke store copy never merges into a used store$/,
          );
          assert.match((error as { hint?: string }).hint ?? '', /new, empty store/);
          assert.deepEqual(await snapshot(target), before, 'nothing was written');
        }
        // The source itself is not an empty target either.
        const sameFile = await openStore(from);
        targets.push(sameFile);
        await rejectsWith(
          () => copyStore(source, sameFile),
          'ERR_STORE_NOT_EMPTY',
          /5 keys, 100 audit records, 3 checkpoints/,
        );
      } finally {
        await source.close();
        for (const target of targets) await target.close();
      }
    }),
  );

  void test(
    'a source record that was changed fails the copy at that record; nothing is reported as copied',
    withTempDir(async (dir) => {
      const from = path.join(dir, 'source.db');
      await sqliteSource(from, 2500);
      const raw = openSqliteStore(from);
      dropAuditTriggers(raw);
      raw
        .unsafeDatabase()
        .prepare("UPDATE audit_log SET user_name = 'mallory@example.com' WHERE seq = 1777")
        .run();
      await raw.close();
      const source = await openStore(from, { readonly: true });
      const target = await openStore(path.join(dir, 'copy.db'));
      try {
        const error = await rejectsWith(
          () => copyStore(source, target),
          'ERR_AUDIT_CHAIN_BROKEN',
          /^the source's audit log is broken at record 1777: the record does not match its hash/,
        );
        assert.match((error as { hint?: string }).hint ?? '', /do not use it/);
        assert.equal((await target.auditTail())?.seq, 1000, 'whole batches before the bad record only');
      } finally {
        await source.close();
        await target.close();
      }
    }),
  );

  void test(
    'a rewritten source (hashes recomputed, tree rebuilt) fails verification against its signed checkpoints',
    withTempDir(async (dir) => {
      const from = path.join(dir, 'source.db');
      const { facts } = await sqliteSource(from, 1200);
      const raw = openSqliteStore(from);
      rewriteHistory(raw, 10);
      await raw.close();
      await (await openStore(from)).close(); // a write open rebuilds the tree over the rewritten records
      const source = await openStore(from, { readonly: true });
      const target = await openStore(path.join(dir, 'copy.db'));
      try {
        assert.equal(facts.checkpoints, 3);
        const error = await rejectsWith(
          () => copyStore(source, target),
          'ERR_AUDIT_CHAIN_BROKEN',
          /^the copy's audit log does not verify at record 400: the Merkle root of records 1-400 differs from the recorded tree head/,
        );
        assert.match((error as { hint?: string }).hint ?? '', /do not use it/);
      } finally {
        await source.close();
        await target.close();
      }
    }),
  );

  void test(
    'verification finds a copy that differs from its source, or a source that changed after it was read',
    withTempDir(async (dir) => {
      const from = path.join(dir, 'source.db');
      const to = path.join(dir, 'copy.db');
      await sqliteSource(from, 300);
      const source = openSqliteStore(from);
      const target = openSqliteStore(to);
      try {
        await copyStore(source, target);
        await verifyStoreCopy(source, target);

        // A policy changed in the copy.
        await target.updateKey('alpha', {
          policy: { users: ['mallory@example.com'], groups: [], roles: [], tenants: [] },
          updatedAt: new Date().toISOString(),
        });
        await rejectsWith(() => verifyStoreCopy(source, target), 'ERR_STORE_COPY_MISMATCH', /key 'alpha'/);
        await source.updateKey('alpha', {
          policy: { users: ['mallory@example.com'], groups: [], roles: [], tenants: [] },
          updatedAt: (await target.getKey('alpha'))?.updatedAt as string,
        });
        await verifyStoreCopy(source, target);

        // A revocation lifted in the source.
        await source.unrevokeObject('bravo', Buffer.alloc(16, 3).toString('base64url'));
        await rejectsWith(
          () => verifyStoreCopy(source, target),
          'ERR_STORE_COPY_MISMATCH',
          /revoked objects of key 'bravo'/,
        );
        await target.unrevokeObject('bravo', Buffer.alloc(16, 3).toString('base64url'));

        // One sealed key's bytes changed in the copy (through another connection, as another process would).
        const sealed = await tamper(from, (db) =>
          db.prepare("SELECT sealed_private_key FROM key_versions WHERE key_name = 'charlie'").pluck().get(),
        );
        await tamper(to, (db) =>
          db.prepare("UPDATE key_versions SET sealed_private_key = x'00' WHERE key_name = 'charlie'").run(),
        );
        await rejectsWith(
          () => verifyStoreCopy(source, target),
          'ERR_STORE_COPY_MISMATCH',
          /versions of key 'charlie'/,
        );
        await tamper(to, (db) =>
          db.prepare("UPDATE key_versions SET sealed_private_key = ? WHERE key_name = 'charlie'").run(sealed),
        );
        await verifyStoreCopy(source, target);

        // A record changed in the copy (its tail and tree untouched).
        const original = await tamper(to, (db) => {
          db.exec('DROP TRIGGER IF EXISTS audit_log_no_update');
          const action: unknown = db.prepare('SELECT action FROM audit_log WHERE seq = 150').pluck().get();
          db.prepare("UPDATE audit_log SET action = 'key.destroy' WHERE seq = 150").run();
          return action;
        });
        await rejectsWith(
          () => verifyStoreCopy(source, target),
          'ERR_AUDIT_CHAIN_BROKEN',
          /^the copy's audit log does not verify at record 150: the record does not match its hash/,
        );
        await tamper(to, (db) => db.prepare('UPDATE audit_log SET action = ? WHERE seq = 150').run(original));
        await verifyStoreCopy(source, target);

        // A cosignature missing from the copy.
        await tamper(to, (db) =>
          db
            .prepare('DELETE FROM audit_cosignatures WHERE size = 300 AND witness_name = ?')
            .run(WITNESS_NAME),
        );
        await rejectsWith(
          () => verifyStoreCopy(source, target),
          'ERR_STORE_COPY_MISMATCH',
          /cosignatures on the checkpoint of size 300/,
        );

        // The source went on logging after the copy.
        const audit = new StoreAuditLog(source);
        await audit.append({ action: 'key.list', result: 'ok' });
        await audit.close();
        await rejectsWith(
          () => verifyStoreCopy(source, target),
          'ERR_AUDIT_CHAIN_BROKEN',
          /^the copy's audit log ends at record 300, the source's at record 301$/,
        );
      } finally {
        await source.close();
        await target.close();
      }
    }),
  );

  void test(
    'a source path that does not exist is refused read-only, and no empty store is created there',
    withTempDir(async (dir) => {
      const missing = path.join(dir, 'nothing', 'here.db');
      await rejectsWith(() => openStore(missing, { readonly: true }), 'ERR_IO');
      assert.equal(fs.existsSync(path.join(dir, 'nothing')), false);
    }),
  );
});

void describe('store copy: memory', () => {
  void test(
    '50,000 audit records stream through: never more than one batch and one read page in flight',
    withTempDir(async (dir) => {
      const from = path.join(dir, 'source.db');
      const writer = openSqliteStore(from);
      await appendRecords(writer, 50_000);
      await writer.close();
      const source = await openStore(from, { readonly: true });
      const target = await openStore(path.join(dir, 'copy.db'));
      // The real stores, observed: rows read from the source but not yet committed to the target.
      let read = 0;
      let committed = 0;
      let mostInFlight = 0;
      const observedSource: DkeStore = Object.create(source) as DkeStore;
      observedSource.iterateAuditRows = async function* (since?: string) {
        for await (const row of source.iterateAuditRows(since)) {
          read += 1;
          mostInFlight = Math.max(mostInFlight, read - committed);
          yield row;
        }
      };
      const observedTarget: DkeStore = Object.create(target) as DkeStore;
      observedTarget.appendAuditRows = async (build) => {
        const rows = await target.appendAuditRows(build);
        committed += rows.length;
        return rows;
      };
      try {
        const started = performance.now();
        const report = await copyStore(observedSource, observedTarget);
        const seconds = (performance.now() - started) / 1000;
        assert.equal(report.auditRecords, 50_000);
        assert.equal(committed, 50_000);
        assert.ok(mostInFlight <= 1000, `at most one batch read ahead of the target (${mostInFlight})`);
        process.stderr.write(
          `store copy: 50,000 records SQLite to SQLite, copied and verified in ${seconds.toFixed(1)} s\n`,
        );
      } finally {
        await source.close();
        await target.close();
      }
    }),
  );
});

whenPostgres('store copy to and from PostgreSQL', (adminUrl) => {
  void describe('store copy: PostgreSQL', () => {
    const withDatabase = (run: (db: TestDatabase, dir: string) => Promise<void>): (() => Promise<void>) =>
      withTempDir(async (dir) => {
        const db = await createTestDatabase(adminUrl);
        try {
          await run(db, dir);
        } finally {
          await db.drop();
        }
      });

    void test(
      'SQLite to PostgreSQL: copied exactly and verified; the key manager and audit log run on the copy',
      withDatabase(async (db, dir) => {
        const from = path.join(dir, 'source.db');
        const { masterKey, facts } = await sqliteSource(from);
        const source = await openStore(from, { readonly: true });
        const target = await openStore(db.url);
        try {
          assert.equal(target.backend, 'postgres');
          const [report, progress] = await copyWithProgress(source, target);
          checkReport(report, facts);
          checkProgress(progress, facts.records);
          await checkServiceRunsOn(target, masterKey, facts);
        } finally {
          await source.close();
          await target.close();
        }
      }),
    );

    void test(
      'PostgreSQL to SQLite, and a used PostgreSQL target is refused',
      withDatabase(async (db, dir) => {
        const masterKey = MasterKey.generate();
        const pgSource = await openStore(db.url);
        const copyFile = path.join(dir, 'copy.db');
        const target = await openStore(copyFile);
        const used = openSqliteStore(path.join(dir, 'used.db'));
        try {
          const facts = await fillStore(pgSource, masterKey, 1500);
          const report = await copyStore(pgSource, target);
          checkReport(report, facts);
          await checkServiceRunsOn(target, masterKey, facts);
          // The PostgreSQL store now holds a copy source's data: as a target it is refused.
          await rejectsWith(() => copyStore(used, pgSource), 'ERR_STORE_NOT_EMPTY');
        } finally {
          await pgSource.close();
          await target.close();
          await used.close();
        }
      }),
    );

    void test(
      'a tampered source fails the copy into PostgreSQL; nothing is reported as copied',
      withDatabase(async (db, dir) => {
        const from = path.join(dir, 'source.db');
        await sqliteSource(from, 1200);
        const raw = openSqliteStore(from);
        dropAuditTriggers(raw);
        raw.unsafeDatabase().prepare("UPDATE audit_log SET object_id = 'AAAA' WHERE seq = 1100").run();
        await raw.close();
        const source = await openStore(from, { readonly: true });
        const target = await openStore(db.url);
        try {
          await rejectsWith(
            () => copyStore(source, target),
            'ERR_AUDIT_CHAIN_BROKEN',
            /broken at record 1100/,
          );
        } finally {
          await source.close();
          await target.close();
        }
      }),
    );
  });
});
