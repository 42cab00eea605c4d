/**
 * The rules behind the Integrity and Status pages, without a server: one verification at a time (callers
 * join it), the stale-cosignature rule with and without the fail-closed limit, and the doctor runs kept
 * briefly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WitnessStatus } from '../../src/audit/witness-client.js';
import type { DoctorReport } from '../../src/doctor/index.js';
import { DkeError } from '../../src/errors/index.js';
import type { IntegrityStatement } from '../../src/report/index.js';
import { integrityAlarms, type AlarmInput } from '../../src/console/integrity-alarms.js';
import { createIntegrityMonitor } from '../../src/console/integrity-monitor.js';
import { CACHE_MS, RERUN_AFTER_MS, statusRunner } from '../../src/console/status-api.js';
import { oneAtATime } from '../../src/console/report-api.js';

const VERIFIED: IntegrityStatement = { verified: true, size: 3, problems: [] };

test('one verification at a time: callers meanwhile join it, the next call runs anew', async () => {
  let runs = 0;
  let finish: (statement: IntegrityStatement) => void = () => undefined;
  const monitor = createIntegrityMonitor(() => {
    runs += 1;
    return new Promise<IntegrityStatement>((resolve) => {
      finish = resolve;
    });
  });
  assert.equal(monitor.last(), undefined);
  const first = monitor.verify();
  const second = monitor.verify();
  assert.equal(monitor.running(), true);
  finish(VERIFIED);
  const [a, b] = await Promise.all([first, second]);
  assert.equal(runs, 1);
  assert.equal(a, b);
  assert.equal(monitor.last(), a);
  assert.equal(monitor.running(), false);
  const third = monitor.verify();
  finish({ ...VERIFIED, size: 4 });
  assert.equal((await third).statement.size, 4);
  assert.equal(runs, 2);
});

test('a verification that could not run is not kept, and the next call tries again', async () => {
  let fail = true;
  const monitor = createIntegrityMonitor(() =>
    fail ? Promise.reject(new DkeError('ERR_STORE_BUSY')) : Promise.resolve(VERIFIED),
  );
  await assert.rejects(monitor.verify(), { code: 'ERR_STORE_BUSY' });
  assert.equal(monitor.last(), undefined);
  fail = false;
  assert.equal((await monitor.verify()).statement.verified, true);
});

const witness = (newest?: { size: number; timestamp: number }, lastOutcome?: string): WitnessStatus =>
  ({
    name: 'w1',
    url: 'http://w1',
    newest,
    lastOutcome,
    failures: lastOutcome === undefined || lastOutcome === 'cosigned' ? 0 : 2,
    failing: false,
  }) as WitnessStatus;

function input(overrides: Partial<AlarmInput>): AlarmInput {
  return {
    nowSeconds: 10_000,
    watchingSinceSeconds: 9_000,
    settings: { checkpointIntervalSeconds: 5, quorum: 1, requireCosignatureWithinSeconds: undefined },
    witnesses: [],
    witnessHealth: 'ok',
    latestCheckpointSize: 10,
    lastVerification: undefined,
    ...overrides,
  };
}
const kinds = (i: AlarmInput): string[] => integrityAlarms(i).map((a) => a.kind);

test('stale without a limit: behind the latest checkpoint for more than 2 x the interval', () => {
  // A quiet log: the witness cosigned the latest checkpoint long ago; nothing is asked of it since.
  assert.deepEqual(kinds(input({ witnesses: [witness({ size: 10, timestamp: 1_000 })] })), []);
  // Behind, but within 2 x 5 s.
  assert.deepEqual(kinds(input({ witnesses: [witness({ size: 9, timestamp: 9_991 })] })), []);
  // Behind for 11 s.
  const stale = integrityAlarms(input({ witnesses: [witness({ size: 9, timestamp: 9_989 })] }));
  assert.deepEqual(
    stale.map((a) => a.kind),
    ['stale-cosignature'],
  );
  assert.match(
    stale[0]?.message ?? '',
    /last cosigned 11 s ago \(size 9\); stale after 10 s \(2 x the checkpoint interval\)/,
  );
  // Never cosigned: stale once 2 x the interval passed since this process watches.
  assert.deepEqual(kinds(input({ witnesses: [witness()], watchingSinceSeconds: 9_995 })), []);
  assert.deepEqual(kinds(input({ witnesses: [witness()] })), ['stale-cosignature']);
  // No checkpoint yet: nothing to cosign.
  assert.deepEqual(kinds(input({ witnesses: [witness()], latestCheckpointSize: undefined })), []);
});

test('stale with the fail-closed limit: older than the limit, whatever the log does', () => {
  const settings = { checkpointIntervalSeconds: 5, quorum: 1, requireCosignatureWithinSeconds: 60 };
  assert.deepEqual(kinds(input({ settings, witnesses: [witness({ size: 10, timestamp: 9_950 })] })), []);
  assert.deepEqual(
    kinds(
      input({
        settings,
        witnesses: [witness({ size: 10, timestamp: 9_930 }, 'unreachable')],
        witnessHealth: 'unwitnessed',
      }),
    ),
    ['not-witnessed', 'stale-cosignature', 'witness-failing'],
  );
});

test('a failed verification is an alarm; a busy store is not a failing witness', () => {
  const alarms = integrityAlarms(
    input({
      witnesses: [witness({ size: 10, timestamp: 9_999 }, 'store_busy')],
      lastVerification: {
        startedAt: '2026-12-01T10:00:00.000Z',
        finishedAt: '2026-12-01T10:00:01.000Z',
        durationMs: 1000,
        statement: { verified: false, size: 2, firstBroken: { seq: 3, reason: 'gone' }, problems: [] },
      },
    }),
  );
  assert.deepEqual(
    alarms.map((a) => a.message),
    ['the verification at 2026-12-01T10:00:01.000Z failed at record 3: gone'],
  );
});

test('status: a run is kept for CACHE_MS, a re-run reuses one younger than RERUN_AFTER_MS', async () => {
  let now = 1_000_000;
  let runs = 0;
  const report = { url: 'u', startedAt: 's', findings: [], counts: {}, ok: true } as unknown as DoctorReport;
  const status = statusRunner(
    () => {
      runs += 1;
      return Promise.resolve(report);
    },
    () => now,
  );
  const [a, b] = await Promise.all([status(false), status(false)]);
  assert.equal(runs, 1);
  assert.equal(a.cached, false);
  assert.equal(b.cached, false);
  now += RERUN_AFTER_MS - 1;
  assert.equal((await status(true)).cached, true);
  now += 1;
  assert.equal((await status(true)).cached, false);
  assert.equal(runs, 2);
  now += CACHE_MS - 1;
  assert.equal((await status(false)).cached, true);
  now += 1;
  assert.equal((await status(false)).cached, false);
  assert.equal(runs, 3);
});

test('reports: one at a time, another meanwhile is ERR_CONSOLE_BUSY, the next after it runs', async () => {
  const exclusive = oneAtATime();
  let finish: (text: string) => void = () => undefined;
  const first = exclusive(() => new Promise<string>((resolve) => (finish = resolve)));
  await assert.rejects(
    exclusive(() => Promise.resolve('second')),
    (error: unknown) =>
      error instanceof DkeError && error.code === 'ERR_CONSOLE_BUSY' && error.status === 503,
  );
  finish('first');
  assert.equal(await first, 'first');
  assert.equal(await exclusive(() => Promise.resolve('third')), 'third');
  await assert.rejects(
    exclusive(() => Promise.reject(new DkeError('ERR_STORE_BUSY'))),
    { code: 'ERR_STORE_BUSY' },
  );
  assert.equal(await exclusive(() => Promise.resolve('after a failure')), 'after a failure');
});
