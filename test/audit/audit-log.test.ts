import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { isDkeError } from '../../src/errors/index.js';
import {
  auditRecordHash,
  canonicalAuditText,
  GENESIS_HASH,
  StoreAuditLog,
  type HashedFields,
} from '../../src/audit/index.js';
import { MasterKey, openAuditStore, openKeyService, type KeyService } from '../../src/keystore/index.js';
import { openSqliteStore, type AuditRow, type DkeStore } from '../../src/store/index.js';
import type { AuditEvent, AuditRecord } from '../../src/service/contracts.js';
import { collect } from '../support/collect.js';
import { rewriteAuditLog } from '../support/rewrite-log.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';
import Database from 'better-sqlite3';
import { recordLeaf, referenceRoot } from '../support/mth.js';
import { verifyConsistency, verifyInclusion } from '../../src/transparency/merkle.js';

const run = promisify(execFile);

const EVENT: AuditEvent = {
  action: 'native.unwrap',
  result: 'allowed',
  issuer: 'https://login.example.com/t/v2.0',
  subject: 'alice-sub',
  userName: 'alice@example.com',
  keyName: 'finance',
  keyVersion: 2,
  keyId: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  objectId: 'AQEBAQEBAQEBAQEBAQEBAQ',
  clientAddress: '192.0.2.1',
  requestId: 'req-1',
};

/** docs/audit.md's example record hashes to this. */
const KNOWN_HASH = 'abbdbd036f55e68f47d33f2a0e4bd6df982dcf541498ea33edc1100c5b9f2ba1';

const isUnavailable = (e: unknown): boolean => isDkeError(e, 'ERR_AUDIT_UNAVAILABLE');

/** A store wrapper that counts write transactions, to observe group commit. */
function countingTransactions(store: DkeStore): { store: DkeStore; transactions: () => number } {
  let count = 0;
  const counting = new Proxy(store, {
    get(target, property) {
      if (property === 'appendAuditRows') {
        return (build: Parameters<DkeStore['appendAuditRows']>[0]) => {
          count += 1;
          return target.appendAuditRows(build);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: counting, transactions: () => count };
}

void describe('audit log', () => {
  let dir: string;
  let dbPath: string;
  let services: KeyService[];
  const open = async (): Promise<KeyService> => {
    const service = await openKeyService({ dbPath, masterKey: MasterKey.fromBytes(Buffer.alloc(32, 7)) });
    services.push(service);
    return service;
  };
  const appendMany = async (audit: StoreAuditLog, n: number): Promise<AuditRecord[]> =>
    Promise.all(Array.from({ length: n }, (_, i) => audit.append({ ...EVENT, requestId: `req-${i + 1}` })));
  /** Lets raw SQL change the log, as an attacker with file access could. */
  const dropGuards = (service: KeyService): void => {
    service.store
      .unsafeDatabase()
      .exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
  };

  beforeEach(() => {
    dir = makeTempDir();
    dbPath = path.join(dir, 'opendke.db');
    services = [];
  });
  afterEach(async () => {
    for (const service of services) await service.close();
    removeDir(dir);
  });

  void test('the hash is the documented canonical encoding (known answer, docs/audit.md)', () => {
    const fields: HashedFields = {
      seq: 1,
      time: '2025-01-01T00:00:00.000Z',
      prevHash: GENESIS_HASH,
      action: 'native.unwrap',
      result: 'allowed',
      reason: null,
      issuer: 'https://login.example.com/t/v2.0',
      subject: 'alice-sub',
      userName: 'alice@example.com',
      keyName: 'finance',
      keyVersion: 2,
      keyId: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
      objectId: 'AQEBAQEBAQEBAQEBAQEBAQ',
      clientAddress: '192.0.2.1',
      requestId: 'req-1',
    };
    const documented =
      '["opendke.audit.v1",1,"2025-01-01T00:00:00.000Z","0000000000000000000000000000000000000000000000000000000000000000",' +
      '"native.unwrap","allowed",null,"https://login.example.com/t/v2.0","alice-sub","alice@example.com","finance",2,' +
      '"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs","AQEBAQEBAQEBAQEBAQEBAQ","192.0.2.1","req-1"]';
    assert.equal(canonicalAuditText(fields), documented);
    assert.equal(crypto.createHash('sha256').update(documented, 'utf8').digest('hex'), KNOWN_HASH);
    assert.equal(auditRecordHash(fields), KNOWN_HASH);
    // null and "" differ, and field boundaries matter.
    assert.notEqual(auditRecordHash({ ...fields, reason: '' }), auditRecordHash(fields));
    assert.notEqual(
      auditRecordHash({ ...fields, subject: 'ab', userName: 'c' }),
      auditRecordHash({ ...fields, subject: 'a', userName: 'bc' }),
    );
  });

  void test('append chains records and resolves only once the record is committed', async () => {
    const service = await open();
    const other = openSqliteStore(dbPath); // another connection, as another process would see it
    try {
      const first = await service.audit.append(EVENT);
      assert.equal(first.seq, 1);
      assert.equal(first.prevHash, GENESIS_HASH);
      assert.match(first.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal('reason' in first, false, 'absent fields stay absent');
      assert.equal(
        (await collect(other.iterateAuditChain())).length,
        1,
        'visible to other connections when append resolves',
      );
      const second = await service.audit.append({ action: 'key.create', result: 'ok', keyName: 'k' });
      assert.equal(second.seq, 2);
      assert.equal(second.prevHash, first.hash);
      assert.deepEqual(await service.audit.verify(), {
        ok: true,
        records: 2,
        last: { seq: 2, hash: second.hash },
        rootHash: referenceRoot(
          (await service.store.queryAuditRows({ limit: 10 })).reverse().map(recordLeaf),
        ).toString('hex'),
      });
    } finally {
      await other.close();
    }
  });

  void test('group commit: concurrent appends share transactions; appends during a commit go in the next one', async () => {
    const service = await open();
    const { store, transactions } = countingTransactions(service.store);
    const audit = new StoreAuditLog(store, { maxBatch: 400 });
    const records = await appendMany(audit, 1000);
    assert.equal(transactions(), 3, '1000 appends in batches of at most 400');
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 1000 }, (_, i) => i + 1),
      'in call order',
    );

    const before = transactions();
    const followUps: Promise<AuditRecord>[] = [];
    await Promise.all(
      Array.from({ length: 10 }, () =>
        audit.append(EVENT).then((r) => {
          followUps.push(audit.append({ ...EVENT, requestId: `after-${r.seq}` }));
        }),
      ),
    );
    await Promise.all(followUps);
    assert.equal(transactions() - before, 2);
    await audit.close();

    await service.close();
    const reopened = await open();
    assert.deepEqual((await reopened.audit.verify()).records, 1020);
    assert.equal((await reopened.audit.verify()).ok, true);
  });

  void test('one commit in flight at a time: appends made while it runs wait and go in the next batch', async () => {
    const service = await open();
    // A store whose commits take a while to come back (a database across the network).
    let inFlight = 0;
    let maxInFlight = 0;
    const batches: number[] = [];
    const gate: { release?: () => void } = {};
    const slow = new Proxy(service.store, {
      get(target, property) {
        if (property === 'appendAuditRows') {
          return async (build: Parameters<DkeStore['appendAuditRows']>[0]) => {
            inFlight += 1;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise<void>((resolve) => (gate.release = resolve));
            try {
              const rows = await target.appendAuditRows(build);
              batches.push(rows.length);
              return rows;
            } finally {
              inFlight -= 1;
            }
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const audit = new StoreAuditLog(slow);
    const waitForCommit = async (): Promise<void> => {
      while (gate.release === undefined) await new Promise((resolve) => setImmediate(resolve));
    };
    const releaseCommit = (): void => {
      const release = gate.release;
      delete gate.release;
      release?.();
    };
    const first = appendMany(audit, 3);
    await waitForCommit();
    const settled: number[] = [];
    const later = Array.from({ length: 5 }, (_, i) =>
      audit.append({ ...EVENT, requestId: `later-${i}` }).then((r) => {
        settled.push(r.seq);
        return r;
      }),
    );
    // Give the log every chance to start a second commit: it must not.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inFlight, 1);
    assert.deepEqual(settled, [], 'nothing resolves before its commit');
    releaseCommit();
    assert.deepEqual(
      (await first).map((r) => r.seq),
      [1, 2, 3],
    );
    await waitForCommit();
    releaseCommit();
    assert.deepEqual(
      (await Promise.all(later)).map((r) => r.seq),
      [4, 5, 6, 7, 8],
    );
    assert.deepEqual(batches, [3, 5], 'the appends made during the first commit formed the second batch');
    assert.equal(maxInFlight, 1);
    await audit.close();
    assert.equal((await service.audit.verify()).records, 8);
  });

  void test('several processes appending at once keep one valid chain', async () => {
    const service = await open();
    const moduleUrl = new URL('../../src/keystore/index.js', import.meta.url).href;
    const child = `
      const { openAuditStore } = await import(${JSON.stringify(moduleUrl)});
      const [dbPath, count, tag] = process.argv.slice(1);
      const { audit, close } = await openAuditStore({ dbPath, readonly: false });
      for (let i = 0; i < Number(count); i += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, j) =>
          audit.append({ action: 'test.append', result: 'ok', requestId: tag + '-' + (i + j) })));
      }
      await close();`;
    const children = ['a', 'b', 'c'].map((tag) =>
      run(process.execPath, ['--input-type=module', '-e', child, dbPath, '200', tag]),
    );
    const mine = (async () => {
      for (let i = 0; i < 20; i += 1) await appendMany(service.audit, 10);
    })();
    await Promise.all([...children, mine]);
    const verification = await service.audit.verify();
    assert.equal(verification.ok, true, JSON.stringify(verification.firstBroken));
    assert.equal(verification.records, 800);
    for (const tag of ['a', 'b', 'c']) {
      const ids = new Set(
        (await service.store.queryAuditRows({ limit: 10_000 }))
          .map((r) => r.requestId)
          .filter((id) => id?.startsWith(`${tag}-`)),
      );
      assert.equal(ids.size, 200, `all of process ${tag}'s records`);
    }
  });

  void test('a failed write rejects every append of the batch with ERR_AUDIT_UNAVAILABLE and writes none', async () => {
    const service = await open();
    await service.audit.append(EVENT);
    const db = service.store.unsafeDatabase();
    db.exec(
      "CREATE TRIGGER disk_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => service.audit.append(EVENT)));
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.ok(outcome.status === 'rejected' && isUnavailable(outcome.reason));
    }
    assert.equal((await service.audit.verify()).records, 1);
    db.exec('DROP TRIGGER disk_full');
    assert.equal((await service.audit.append(EVENT)).seq, 2, 'the chain continues once writing works again');
    assert.equal((await service.audit.verify()).ok, true);
  });

  void describe('a store locked by another connection (server mode: lockWaitMs)', () => {
    const openServing = async (lockWaitMs: number): Promise<KeyService> => {
      const service = await openKeyService({
        dbPath,
        masterKey: MasterKey.fromBytes(Buffer.alloc(32, 7)),
        lockWaitMs,
      });
      services.push(service);
      return service;
    };
    /** Another connection holding the write lock until the returned function is called. */
    const holdLock = (): (() => void) => {
      const other = new Database(dbPath);
      other.exec('BEGIN IMMEDIATE');
      return () => {
        other.exec('COMMIT');
        other.close();
      };
    };
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

    void test('appends wait without blocking the event loop, then commit in call order', async () => {
      const service = await openServing(5000);
      await service.audit.append({ ...EVENT, requestId: 'before' });
      const release = holdLock();
      let ticks = 0;
      const ticker = setInterval(() => (ticks += 1), 5);
      const appends = Array.from({ length: 5 }, (_, i) =>
        service.audit.append({ ...EVENT, requestId: `r${i}` }),
      );
      await sleep(150);
      assert.equal(service.audit.pending, 5, 'still waiting for the lock');
      const later = service.audit.append({ ...EVENT, requestId: 'r5' });
      release();
      const records = await Promise.all([...appends, later]);
      clearInterval(ticker);
      assert.ok(ticks >= 10, `the event loop kept turning while locked (${ticks} ticks)`);
      assert.deepEqual(
        records.map((r) => [r.seq, r.requestId]),
        [0, 1, 2, 3, 4, 5].map((i) => [i + 2, `r${i}`]),
      );
      assert.equal((await service.audit.verify()).ok, true);
    });

    void test('appends still locked out after lockWaitMs fail with ERR_AUDIT_UNAVAILABLE; the chain continues', async () => {
      const service = await openServing(100);
      const release = holdLock();
      const started = Date.now();
      const outcomes = await Promise.allSettled([service.audit.append(EVENT), service.audit.append(EVENT)]);
      const elapsed = Date.now() - started;
      release();
      for (const outcome of outcomes)
        assert.ok(outcome.status === 'rejected' && isUnavailable(outcome.reason));
      assert.ok(elapsed >= 90 && elapsed < 1000, `failed after ${elapsed} ms`);
      assert.equal((await service.audit.append(EVENT)).seq, 1, 'nothing of the failed appends was written');
      assert.equal((await service.audit.verify()).ok, true);
    });

    void test('close() fails what a locked store kept back', async () => {
      const service = await openServing(5000);
      const release = holdLock();
      const pending = service.audit.append(EVENT);
      await sleep(20);
      await service.audit.close();
      await assert.rejects(pending, isUnavailable);
      release();
    });
  });

  void test('append on a closed or read-only store rejects', async () => {
    const service = await open();
    await service.audit.append(EVENT);
    const detached = new StoreAuditLog(service.store);
    await service.store.close();
    await assert.rejects(detached.append(EVENT), isUnavailable);
    await assert.rejects(service.audit.append(EVENT), isUnavailable);

    const readOnly = await openAuditStore({ dbPath });
    try {
      await assert.rejects(readOnly.audit.append(EVENT), isUnavailable);
      assert.equal((await readOnly.audit.verify()).records, 1, 'but it verifies');
    } finally {
      await readOnly.close();
    }
    await assert.rejects(readOnly.audit.append(EVENT), isUnavailable);
  });

  void test('an invalid event is refused without affecting the others', async () => {
    const { audit } = await open();
    const results = await Promise.allSettled([
      audit.append(EVENT),
      audit.append({ action: '', result: 'ok' }),
      audit.append({ action: 'x', result: 'maybe' as never }),
      audit.append({ action: 'x', result: 'ok', keyVersion: -1 }),
      audit.append({ action: 'x', result: 'ok', subject: 42 as never }),
      audit.append(EVENT),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected', 'fulfilled'],
    );
    assert.equal((await audit.verify()).records, 2);
  });

  void test('long or malformed text is stored exactly as hashed', async () => {
    const { audit } = await open();
    const record = await audit.append({
      ...EVENT,
      requestId: 'x'.repeat(5000),
      userName: 'bad \ud800 surrogate',
    });
    assert.equal(record.requestId?.length, 1024);
    assert.equal(record.userName, 'bad \ufffd surrogate');
    assert.equal((await audit.verify()).ok, true);
  });

  void describe('verify finds the first broken record', () => {
    const tampered = async (
      tamper: (service: KeyService) => void | Promise<void>,
    ): Promise<Awaited<ReturnType<StoreAuditLog['verify']>>> => {
      const service = await open();
      await appendMany(service.audit, 10);
      assert.equal((await service.audit.verify()).ok, true);
      dropGuards(service);
      await tamper(service);
      return service.audit.verify();
    };
    const sql = (service: KeyService, statement: string, ...params: unknown[]): void => {
      service.store
        .unsafeDatabase()
        .prepare(statement)
        .run(...params);
    };
    const row = async (service: KeyService, seq: number): Promise<AuditRow> =>
      (await service.store.queryAuditRows({ limit: 10_000 })).find((r) => r.seq === seq) as AuditRow;

    void test('a changed field', async () => {
      const result = await tampered((s) => sql(s, "UPDATE audit_log SET subject = 'mallory' WHERE seq = 5"));
      assert.deepEqual(
        { ok: result.ok, records: result.records, seq: result.firstBroken?.seq },
        { ok: false, records: 4, seq: 5 },
      );
      assert.match(result.firstBroken?.reason ?? '', /field was changed/);
    });

    void test('a null field filled in', async () => {
      const result = await tampered((s) => sql(s, "UPDATE audit_log SET reason = 'x' WHERE seq = 3"));
      assert.equal(result.firstBroken?.seq, 3);
    });

    void test('a removed record (seq gap)', async () => {
      const result = await tampered((s) => sql(s, 'DELETE FROM audit_log WHERE seq = 4'));
      assert.equal(result.firstBroken?.seq, 4);
      assert.match(result.firstBroken?.reason ?? '', /missing/);
    });

    void test('the first record removed', async () => {
      const result = await tampered((s) => sql(s, 'DELETE FROM audit_log WHERE seq = 1'));
      assert.deepEqual(result.firstBroken?.seq, 1);
      assert.equal(result.records, 0);
    });

    void test('two records swapped', async () => {
      const result = await tampered((s) => {
        sql(s, 'UPDATE audit_log SET seq = -3 WHERE seq = 3');
        sql(s, 'UPDATE audit_log SET seq = 3 WHERE seq = 6');
        sql(s, 'UPDATE audit_log SET seq = 6 WHERE seq = -3');
      });
      assert.equal(result.firstBroken?.seq, 3);
    });

    void test('removed and renumbered so no gap shows', async () => {
      const result = await tampered((s) => {
        sql(s, 'DELETE FROM audit_log WHERE seq = 7');
        for (let seq = 8; seq <= 10; seq += 1)
          sql(s, 'UPDATE audit_log SET seq = ? WHERE seq = ?', seq - 1, seq);
      });
      assert.equal(result.firstBroken?.seq, 7);
    });

    void test('a wrong prevHash, with the record hash recomputed to match', async () => {
      const result = await tampered(async (s) => {
        const fake = { ...(await row(s, 7)), prevHash: 'f'.repeat(64) };
        sql(
          s,
          'UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = 7',
          fake.prevHash,
          auditRecordHash(fake),
        );
      });
      assert.equal(result.firstBroken?.seq, 7);
      assert.match(result.firstBroken?.reason ?? '', /prevHash/);
    });

    void test('a changed record with its own hash recomputed breaks the link to the next', async () => {
      const result = await tampered(async (s) => {
        const fake = { ...(await row(s, 5)), subject: 'mallory' };
        sql(
          s,
          'UPDATE audit_log SET subject = ?, hash = ? WHERE seq = 5',
          fake.subject,
          auditRecordHash(fake),
        );
      });
      assert.equal(result.firstBroken?.seq, 6);
    });

    void test('a cut-off tail is found only against an anchor', async () => {
      const service = await open();
      await appendMany(service.audit, 10);
      const anchor = (await service.audit.verify()).last;
      assert.deepEqual(anchor?.seq, 10);
      assert.equal((await service.audit.verify(anchor)).ok, true);
      dropGuards(service);
      sql(service, 'DELETE FROM audit_log WHERE seq >= 9');
      const againstTree = await service.audit.verify();
      assert.equal(againstTree.ok, false, "the store's own tree head still covers 10 records");
      assert.match(againstTree.firstBroken?.reason ?? '', /before the recorded tree head of size 10/);
      // Cut the tree as well: then only an anchor (or a checkpoint) kept elsewhere shows the loss.
      service.store
        .unsafeDatabase()
        .exec(
          'DROP TRIGGER audit_tree_no_delete; DELETE FROM audit_tree WHERE (idx + 1) * (1 << level) > 8;',
        );
      assert.equal(
        (await service.audit.verify()).ok,
        true,
        'a shorter, intact chain and tree verify on their own',
      );
      const result = await service.audit.verify(anchor);
      assert.equal(result.ok, false);
      assert.equal(result.firstBroken?.seq, 9);
      assert.equal((await service.audit.verify({ seq: 5, hash: 'f'.repeat(64) })).firstBroken?.seq, 5);
    });

    void test('an empty log verifies', async () => {
      assert.deepEqual(await (await open()).audit.verify(), {
        ok: true,
        records: 0,
        rootHash: referenceRoot([]).toString('hex'),
      });
    });
  });

  void describe('Merkle tree', () => {
    void test('tree heads and every proof from the log verify against an independent RFC 6962 root', async () => {
      const { audit, store } = await open();
      const sizes: number[] = [];
      audit.onCommit(({ size }) => sizes.push(size));
      assert.deepEqual(await audit.treeHead(), { size: 0, rootHash: referenceRoot([]) });
      const records = [...(await appendMany(audit, 7)), ...(await appendMany(audit, 6))];
      assert.deepEqual(sizes, [7, 13], 'one notification per committed batch, with the new size');
      const leaves: Buffer[] = [];
      for (const r of records) leaves.push(recordLeaf((await store.getAuditRow(r.seq)) as AuditRow));
      assert.equal(await audit.treeSize(), 13);
      for (let n = 1; n <= 13; n++) {
        const head = await audit.treeHead(n);
        assert.deepEqual(head.rootHash, referenceRoot(leaves.slice(0, n)), `root of size ${n}`);
        for (let i = 0; i < n; i++) {
          verifyInclusion(i, n, leaves[i] as Buffer, await audit.inclusionProof(i, n), head.rootHash);
        }
        assert.deepEqual(await audit.consistencyProof(0, n), [], 'nothing to prove from the empty tree');
        for (let m = 1; m <= n; m++) {
          verifyConsistency(
            m,
            n,
            await audit.consistencyProof(m, n),
            (await audit.treeHead(m)).rootHash,
            head.rootHash,
          );
        }
      }
      const bad = (fn: () => Promise<unknown>): Promise<void> =>
        assert.rejects(fn, (e: unknown) => isDkeError(e, 'ERR_BAD_REQUEST'));
      await bad(() => audit.treeHead(14));
      await bad(() => audit.inclusionProof(13, 13));
      await bad(() => audit.inclusionProof(-1, 5));
      await bad(() => audit.consistencyProof(6, 5));
      await bad(() => audit.consistencyProof(1, 14));
      await bad(() => audit.treeHead(1.5));
    });

    void test('records by request id and by seq (entry index = seq - 1)', async () => {
      const { audit } = await open();
      const [first] = await appendMany(audit, 3);
      assert.deepEqual(
        (await audit.findByRequestId('req-2')).map((r) => r.seq),
        [2],
      );
      assert.deepEqual(await audit.findByRequestId('nobody'), []);
      assert.deepEqual(await audit.record(1), first);
      assert.equal(await audit.record(4), undefined);
    });

    void test('a log rewritten with every hash recomputed verifies on its own but not against an earlier root', async () => {
      const service = await open();
      await appendMany(service.audit, 10);
      const checkpoint = await service.audit.treeHead();
      // The attacker changes record 4 and recomputes the chain from there on; the tree is rebuilt.
      await rewriteAuditLog(service.store, 4);
      await service.close();
      const reopened = await open(); // completes the missing tree from the rewritten records
      const own = await reopened.audit.verify();
      assert.equal(own.ok, true, 'chain and stored tree agree with each other');
      assert.notEqual(own.rootHash, checkpoint.rootHash.toString('hex'));
      const against = await reopened.audit.verify(undefined, [checkpoint]);
      assert.equal(against.ok, false);
      assert.match(against.firstBroken?.reason ?? '', /differs from the recorded tree head/);
      assert.ok(
        canonicalAuditText((await reopened.store.getAuditRow(4)) as AuditRow).includes('someone-else'),
      );
    });
  });

  void test('query: who opened what, newest first', async () => {
    const { audit } = await open();
    const times = ['2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z', '2025-01-03T00:00:00.000Z'];
    let clock = 0;
    const timed = new StoreAuditLog(services[0]?.store as DkeStore, {
      now: () => new Date(times[clock++] ?? 0),
    });
    await timed.append({ ...EVENT, subject: 'alice-sub', keyName: 'a', objectId: 'o1' });
    await timed.append({
      ...EVENT,
      subject: 'bob-sub',
      userName: 'bob@example.com',
      keyName: 'b',
      objectId: 'o2',
    });
    await timed.append({
      ...EVENT,
      subject: 'bob-sub',
      userName: 'bob@example.com',
      keyName: 'a',
      objectId: 'o1',
      result: 'denied',
      reason: 'ERR_FORBIDDEN',
    });
    const seqs = (records: AuditRecord[]): number[] => records.map((r) => r.seq);
    assert.deepEqual(seqs(await audit.query({})), [3, 2, 1]);
    assert.deepEqual(seqs(await audit.query({ keyName: 'a' })), [3, 1]);
    assert.deepEqual(seqs(await audit.query({ objectId: 'o1', identity: 'Bob@Example.com' })), [3]);
    assert.deepEqual(seqs(await audit.query({ subject: 'alice-sub' })), [1]);
    assert.deepEqual(seqs(await audit.query({ since: '2025-01-02' })), [3, 2]);
    assert.deepEqual(seqs(await audit.query({ limit: 1 })), [3]);
    assert.equal((await audit.query({ limit: 1 }))[0]?.reason, 'ERR_FORBIDDEN');
    for (const bad of [
      { limit: 0 },
      { limit: 1.5 },
      { limit: 100_001 },
      { since: 'yesterday' },
      { keyName: '' },
    ]) {
      await assert.rejects(
        () => audit.query(bad),
        (e: unknown) => isDkeError(e, 'ERR_BAD_REQUEST'),
        JSON.stringify(bad),
      );
    }
  });
});
