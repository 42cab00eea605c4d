/**
 * The storage contract's auditActivity cases (the console's Activity page), registered inside
 * runStoreSuite so they run on SQLite and PostgreSQL. The second case pins the SQL aggregation to the
 * incident report's definitions of a release and a refusal (src/report/build.ts): over the same records,
 * every bucket and series must count what buildIncidentReport counts for that window and key or subject.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditActivityRow, AuditRow, DkeStore } from '../../src/store/index.js';
import { buildIncidentReport, type IncidentReport, type ReportFilter } from '../../src/report/index.js';
import { collect } from '../support/collect.js';
import { chainedRows } from './audit-rows.js';

type Spec = Partial<AuditRow> & { readonly time: string };

async function append(store: DkeStore, specs: readonly Spec[]): Promise<void> {
  await store.appendAuditRows((tail) => chainedRows(specs, tail));
}

/** mulberry32: a failing pattern can be replayed from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number): string => new Date(ms).toISOString();
const D0 = Date.parse('2025-03-01T00:00:00.000Z');

export function registerActivityCases(open: () => Promise<DkeStore>): void {
  void test('auditActivity: releases and refusals per hour and key, top N named, the rest as others', async () => {
    const store = await open();
    const h = (hours: number, minutes = 0): string => at(D0 + hours * HOUR + minutes * 60_000);
    await append(store, [
      { time: h(-1), keyName: 'a', subject: 'alice' }, // before the window
      { time: h(0, 5), keyName: 'a', subject: 'alice' },
      { time: h(0, 59), keyName: 'a', subject: 'bob', action: 'ms-dke.decrypt' },
      { time: h(0, 30), keyName: 'b', subject: 'bob', result: 'denied', reason: 'ERR_POLICY_DENIED' },
      { time: h(0, 31), keyName: 'a', subject: 'alice', result: 'ok' }, // neither: not counted
      { time: h(0, 32), keyName: 'a', subject: 'alice', action: 'native.wrap', result: 'allowed' }, // neither
      { time: h(1), keyName: 'c', subject: 'carol' },
      { time: h(1, 10), keyName: 'b', subject: 'bob' },
      { time: h(1, 11), keyName: 'b', subject: 'bob' },
      { time: h(1, 12), subject: 'dave', action: 'console.activity.get', result: 'denied' }, // no key
      { time: h(2, 0), keyName: 'a', subject: 'alice', result: 'failed' },
      { time: h(3), keyName: 'a', subject: 'alice' }, // at `until`: outside
    ]);
    const window = { since: h(0), until: h(3), bucket: 'hour' as const, series: 10 };
    const row = (hours: number, name: string | null, releases: number, refusals: number) => ({
      bucket: h(hours),
      name,
      releases,
      refusals,
    });
    assert.deepEqual(await store.auditActivity({ ...window, by: 'keyName', series: 10 }), [
      row(0, 'a', 2, 0),
      row(0, 'b', 0, 1),
      row(1, 'b', 2, 0),
      row(1, 'c', 1, 0),
      row(1, null, 0, 1),
      row(2, 'a', 0, 1),
    ]);
    // Top 1 by releases, then refusals: a and b have 2 releases and 1 refusal each; the name decides (a).
    assert.deepEqual(await store.auditActivity({ ...window, by: 'keyName', series: 1 }), [
      row(0, 'a', 2, 0),
      row(0, null, 0, 1),
      row(1, null, 3, 1),
      row(2, 'a', 0, 1),
    ]);
    assert.deepEqual(await store.auditActivity({ ...window, by: 'subject', series: 2 }), [
      row(0, 'alice', 1, 0),
      row(0, 'bob', 1, 1),
      row(1, 'bob', 2, 0),
      row(1, null, 1, 1),
      row(2, 'alice', 0, 1),
    ]);
    assert.deepEqual(
      await store.auditActivity({ since: h(-24), until: h(24), bucket: 'day', by: 'keyName', series: 2 }),
      [
        { bucket: at(D0 - DAY), name: 'a', releases: 1, refusals: 0 },
        { bucket: at(D0), name: 'a', releases: 3, refusals: 1 },
        { bucket: at(D0), name: 'b', releases: 2, refusals: 1 },
        { bucket: at(D0), name: null, releases: 1, refusals: 1 },
      ],
    );
    assert.deepEqual(
      await store.auditActivity({ since: h(10), until: h(20), bucket: 'hour', by: 'subject', series: 5 }),
      [],
    );
    for (const bad of [
      { ...window, until: window.since },
      { ...window, series: 0 },
      { ...window, series: 51 },
      { ...window, series: 1.5 },
    ]) {
      await assert.rejects(store.auditActivity({ ...bad, by: 'keyName' }), RangeError);
    }
  });

  void test('auditActivity counts exactly what the incident report counts (one definition of release and refusal)', async () => {
    const store = await open();
    const random = seeded(14);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
    const specs: Spec[] = [];
    let t = D0 - 3 * HOUR;
    while (t < D0 + 2 * DAY + 3 * HOUR) {
      t += Math.floor(random() * 20 * 60_000);
      specs.push({
        time: at(t),
        action: pick(['native.unwrap', 'native.unwrap', 'ms-dke.decrypt', 'native.wrap', 'admin.key.list']),
        result: pick(['allowed', 'allowed', 'allowed', 'ok', 'denied', 'failed']),
        keyName: pick(['k1', 'k2', 'k3', 'k1', null]),
        issuer: pick(['https://a.example', 'https://b.example']),
        subject: pick(['alice', 'bob', 'carol', 'alice', null]),
      });
    }
    assert.ok(specs.length > 300, `${specs.length} records`);
    await append(store, specs);
    const records = await collect(store.iterateAuditRows());
    const integrity = { verified: true, size: records.length, problems: [] };
    const report = (filter: ReportFilter): Promise<IncidentReport> =>
      buildIncidentReport(records, filter, integrity, { maxRows: 10_000, baselineDays: 1 });

    for (const bucket of ['hour', 'day'] as const) {
      const size = bucket === 'hour' ? HOUR : DAY;
      const since = at(bucket === 'hour' ? D0 - HOUR : D0 - DAY);
      const until = at(D0 + 2 * DAY);
      for (const by of ['keyName', 'subject'] as const) {
        const rows = await store.auditActivity({ since, until, bucket, by, series: 50 });
        const byBucket = new Map<string, AuditActivityRow[]>();
        for (const row of rows) byBucket.set(row.bucket, [...(byBucket.get(row.bucket) ?? []), row]);
        let checked = 0;
        for (let start = Date.parse(since); start < Date.parse(until); start += size) {
          const window = { since: at(start), until: at(start + size) };
          const all = (await report(window)).totals;
          const found = byBucket.get(window.since) ?? [];
          const sum = (field: 'releases' | 'refusals'): number =>
            found.reduce((total, row) => total + row[field], 0);
          assert.deepEqual(
            { releases: sum('releases'), refusals: sum('refusals') },
            { releases: all.releases, refusals: all.refusals },
            `${bucket} ${window.since}`,
          );
          if (all.releases + all.refusals === 0) assert.equal(found.length, 0);
          for (const row of found) {
            if (row.name === null) continue;
            const one = (await report({ ...window, [by]: row.name })).totals;
            assert.deepEqual(
              { releases: row.releases, refusals: row.refusals },
              { releases: one.releases, refusals: one.refusals },
              `${bucket} ${window.since} ${by}=${row.name}`,
            );
            checked += 1;
          }
        }
        assert.ok(checked >= (bucket === 'hour' ? 60 : 6), `${checked} series buckets checked`);
      }
    }
  });
}
