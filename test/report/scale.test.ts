/**
 * 100k records through the real store and the report builder: the detailed rows stay capped, memory does
 * not grow with the number of records, and the time is reported (test diagnostic).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { StoreAuditLog } from '../../src/audit/index.js';
import { openAuditStore } from '../../src/keystore/index.js';
import {
  buildIncidentReport,
  integrityStatement,
  renderHtml,
  reportReadsFrom,
} from '../../src/report/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';

const RECORDS = 100_000;
const START = Date.parse('2026-01-01T00:00:00.000Z');
const STEP_MS = 60_000; // one record a minute: about 69 days

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Heap in use after a full collection: what the code under test keeps, not the garbage it made. */
function retainedHeap(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

describe('incident report at 100k records', () => {
  let dir: string;
  let dbPath: string;
  before(async () => {
    dir = makeTempDir('dke-report-scale-');
    dbPath = path.join(dir, 'dke.db');
    const store = openSqliteStore(dbPath);
    let now = START;
    const log = new StoreAuditLog(store, { now: () => new Date(now), maxBatch: 10_000 });
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < RECORDS; i += 1) {
      now = START + i * STEP_MS;
      pending.push(
        log.append({
          action: i % 10 === 0 ? 'native.unwrap' : 'ms-dke.decrypt',
          result: i % 7 === 0 ? 'denied' : 'allowed',
          reason: i % 7 === 0 ? `reason-${i % 50}` : undefined,
          issuer: 'https://idp.example/',
          subject: `user-${i % 200}`,
          keyName: 'finance',
          objectId: `object-${i}`,
          clientAddress: `10.0.${i % 256}.${(i >> 8) % 256}`,
          requestId: `req-${i}`,
        }),
      );
      if (pending.length === 10_000) {
        await log.flush();
        await Promise.all(pending.splice(0));
      }
    }
    await log.flush();
    await Promise.all(pending);
    await log.close();
    await store.close();
  });
  after(() => removeDir(dir));

  it('keeps detailed rows capped and heap growth bounded', async (t) => {
    const opened = await openAuditStore({ dbPath, readonly: true });
    try {
      const filter = {
        since: new Date(START + 31 * 86_400_000).toISOString(),
        until: new Date(START + RECORDS * STEP_MS).toISOString(),
      };
      const started = performance.now();
      const integrity = await integrityStatement(opened.audit);
      const verified = performance.now();
      // Retained memory, not garbage: collect before each sample (garbage alone varies with GC timing).
      const heapBefore = retainedHeap();
      let peak = heapBefore;
      let read = 0;
      const rows = opened.store.iterateAuditRows(reportReadsFrom(filter));
      const sampled = (async function* () {
        for await (const row of rows) {
          read += 1;
          if (read % 5000 === 0) peak = Math.max(peak, retainedHeap());
          yield row;
        }
      })();
      const report = await buildIncidentReport(sampled, filter, integrity);
      const built = performance.now();
      const html = renderHtml(report);
      const rendered = performance.now();
      const growthMb = (peak - heapBefore) / 2 ** 20;
      t.diagnostic(
        `verify ${Math.round(verified - started)} ms, read+build ${read} records ${Math.round(built - verified)} ms, ` +
          `render html ${Math.round(rendered - built)} ms (${Math.round(html.length / 1024)} KiB), peak retained heap growth ${growthMb.toFixed(1)} MB`,
      );
      assert.equal(integrity.verified, true);
      assert.equal(integrity.size, RECORDS);
      assert.equal(read, RECORDS - 1440); // the first day lies before the 30-day baseline
      assert.ok(report.totals.releases > 40_000);
      const identities = report.releases.reduce((n, g) => n + g.identities.length, 0);
      const events = report.releases.reduce(
        (n, g) => n + g.identities.reduce((m, i) => m + i.events.length, 0),
        0,
      );
      assert.equal(identities, 1000);
      assert.equal(events, 1000);
      assert.equal(report.truncated.any, true);
      assert.equal(report.truncated.releaseEvents, report.totals.releases - 1000);
      assert.ok(report.refusals.length <= 1000);
      assert.equal(report.outliers.length, 1000);
      assert.ok(report.truncated.outliers > 0);
      assert.ok(report.subjects.every((subject) => subject.clientAddresses <= 1000));
      // 100k records of about 300 bytes would be ~60 MB as objects if kept; the builder keeps aggregates only.
      assert.ok(growthMb < 24, `heap grew ${growthMb.toFixed(1)} MB`);
    } finally {
      await opened.close();
    }
  });
});
