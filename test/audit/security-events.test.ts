/**
 * The security event recorder over a real SQLite store: aggregation per minute, address and reason; a
 * bounded in-memory backlog; a store locked by another connection keeps the backlog (never waits); other
 * store failures drop and count.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore, type SqliteStore } from '../../src/store/index.js';
import { SecurityEventRecorder, securityEventQuery } from '../../src/security-events/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';

void describe('security event recorder', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  let clock: Date;
  let dropped: number;
  const recorders: SecurityEventRecorder[] = [];
  const recorder = (options: { maxPending?: number; maxRows?: number } = {}): SecurityEventRecorder => {
    const made = new SecurityEventRecorder(store, {
      maxRows: options.maxRows ?? 1000,
      maxAgeDays: 30,
      ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
      flushIntervalMs: 60_000,
      now: () => clock,
      onDropped: (n) => (dropped += n),
    });
    recorders.push(made);
    return made;
  };
  const rows = () => store.querySecurityEvents({ limit: 10_000 });

  beforeEach(() => {
    dir = makeTempDir();
    file = path.join(dir, 'store.db');
    store = openSqliteStore(file);
    store.setBusyTimeout(0);
    clock = new Date('2025-03-01T10:00:05.000Z');
    dropped = 0;
  });
  afterEach(async () => {
    for (const r of recorders.splice(0)) await r.close();
    await store.close();
    removeDir(dir);
  });

  void test('aggregates per minute, address and reason', async () => {
    const r = recorder();
    for (let i = 0; i < 1000; i += 1) r.record('192.0.2.1', 'ERR_AUTH_INVALID');
    r.record('192.0.2.1', 'ERR_RATE_LIMITED');
    clock = new Date('2025-03-01T10:01:00.000Z');
    r.record('192.0.2.1', 'ERR_AUTH_INVALID');
    await r.flush();
    assert.deepEqual(
      (await rows()).map((e) => [e.windowStart, e.reason, e.count]),
      [
        ['2025-03-01T10:01:00.000Z', 'ERR_AUTH_INVALID', 1],
        ['2025-03-01T10:00:00.000Z', 'ERR_AUTH_INVALID', 1000],
        ['2025-03-01T10:00:00.000Z', 'ERR_RATE_LIMITED', 1],
      ],
    );
  });

  void test('aggregates per issuer and subject too; unknown is empty; long text is cut', async () => {
    const r = recorder();
    const iss = 'https://login.example/tenant';
    r.record('192.0.2.1', 'ERR_AUTH_INVALID', { issuer: iss, subject: 'alice' });
    r.record('192.0.2.1', 'ERR_AUTH_INVALID', { issuer: iss, subject: 'alice' });
    r.record('192.0.2.1', 'ERR_AUTH_INVALID', { issuer: iss, subject: 'bob' });
    r.record('192.0.2.1', 'ERR_AUTH_INVALID');
    r.record('192.0.2.1', 'ERR_AUTH_INVALID', { issuer: iss.repeat(100), subject: 'y'.repeat(5000) });
    await r.flush();
    assert.deepEqual(
      (await rows()).map((e) => [e.issuer.length, e.subject, e.count]).sort(),
      [
        [0, '', 1],
        [256, 'y'.repeat(256), 1],
        [iss.length, 'alice', 2],
        [iss.length, 'bob', 1],
      ].sort(),
    );
  });

  void test('the backlog is bounded: new entries past maxPending are dropped and counted', async () => {
    const r = recorder({ maxPending: 3 });
    for (let i = 0; i < 10; i += 1) r.record(`192.0.2.${i}`, 'ERR_AUTH_INVALID');
    r.record('192.0.2.0', 'ERR_AUTH_INVALID'); // an existing entry still counts
    await r.flush();
    assert.equal(dropped, 7);
    assert.deepEqual((await rows()).map((e) => [e.clientAddress, e.count]).sort(), [
      ['192.0.2.0', 2],
      ['192.0.2.1', 1],
      ['192.0.2.2', 1],
    ]);
  });

  void test('a store locked by another connection keeps the backlog without waiting; the next flush writes it', async () => {
    const r = recorder();
    r.record('192.0.2.1', 'ERR_AUTH_INVALID');
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    await r.flush();
    assert.ok(Date.now() - started < 200, 'flush did not wait for the lock');
    r.record('192.0.2.1', 'ERR_AUTH_INVALID');
    other.exec('COMMIT');
    other.close();
    await r.flush();
    assert.deepEqual(
      (await rows()).map((e) => e.count),
      [2],
    );
    assert.equal(dropped, 0);
  });

  void test('any other store failure drops the batch, counted', async () => {
    const r = recorder();
    r.record('192.0.2.1', 'ERR_AUTH_INVALID');
    r.record('192.0.2.2', 'ERR_AUTH_INVALID');
    store
      .unsafeDatabase()
      .exec(
        "CREATE TRIGGER full BEFORE INSERT ON security_events BEGIN SELECT RAISE(ABORT, 'disk full'); END",
      );
    await r.flush();
    assert.equal(dropped, 2);
    assert.deepEqual(await rows(), []);
  });

  void test('queries are validated', () => {
    assert.throws(
      () => securityEventQuery({ limit: 0 }),
      (e: unknown) => isDkeError(e, 'ERR_BAD_REQUEST'),
    );
    assert.throws(
      () => securityEventQuery({ since: 'yesterday' }),
      (e: unknown) => isDkeError(e, 'ERR_BAD_REQUEST'),
    );
    assert.deepEqual(securityEventQuery({ since: '2025-03-01', address: '192.0.2.1' }), {
      limit: 100,
      since: '2025-03-01T00:00:00.000Z',
      clientAddress: '192.0.2.1',
    });
    assert.deepEqual(securityEventQuery({ issuer: 'https://login.example/t', subject: 'alice' }), {
      limit: 100,
      issuer: 'https://login.example/t',
      subject: 'alice',
    });
    for (const filter of [{ subject: '' }, { issuer: '' }, { subject: 'x'.repeat(257) }]) {
      assert.throws(
        () => securityEventQuery(filter),
        (e: unknown) => isDkeError(e, 'ERR_BAD_REQUEST'),
        JSON.stringify(filter),
      );
    }
  });
});
