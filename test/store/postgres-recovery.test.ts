/**
 * The PostgreSQL backend survives its server going away and coming back: calls fail ERR_STORE_UNAVAILABLE
 * meanwhile (no crash from the connections the shutdown killed), and the same store serves again once the
 * server is back, without being reopened. (A real `dke serve` through the same outage, under load:
 * test/service/postgres-outage.test.ts.) Runs throwaway clusters of its own, which it stops and restarts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isDkeError } from '../../src/errors/index.js';
import { auditRecordHash } from '../../src/audit/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import type { AuditRow, AuditTail } from '../../src/store/index.js';
import { TestCluster, whenPostgres } from '../support/postgres.js';
import { auditRow, version } from './store-suite.js';

function nextRow(tail: AuditTail | undefined, requestId: string): AuditRow {
  const unhashed = auditRow(tail, { requestId });
  return { ...unhashed, hash: auditRecordHash(unhashed) };
}

const unavailable = (e: unknown): boolean => isDkeError(e, 'ERR_STORE_UNAVAILABLE') && e.status === 503;

/** A cluster of the test's own, or a skip (a failure under CI=true) when none can be started here. */
async function ownCluster(t: TestContext): Promise<TestCluster | undefined> {
  try {
    return await TestCluster.start();
  } catch (error) {
    const reason = `cannot start a PostgreSQL cluster of its own: ${(error as Error).message}`;
    if (process.env.CI === 'true') throw new Error(reason);
    t.skip(reason);
    return undefined;
  }
}

whenPostgres('PostgreSQL restart recovery', () => {
  void test(
    'PostgreSQL stops and starts again: 503 ERR_STORE_UNAVAILABLE meanwhile, then the same store serves',
    { timeout: 300_000 },
    async (t) => {
      const cluster = await ownCluster(t);
      if (cluster === undefined) return;
      try {
        const warnings: string[] = [];
        const store = await openPostgresStore(cluster.url, {
          connectionTimeoutMs: 1000,
          probeTimeoutMs: 500,
          onWarning: (message, detail) => warnings.push(`${message}: ${detail}`),
        });
        try {
          await store.createKey(
            { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: '2025-01-01T00:00:00.000Z' },
            version('v1'),
          );
          await store.appendAuditRows((tail) => [nextRow(tail, 'before')]);
          // Several idle connections in the pool, all of which the shutdown will kill.
          await Promise.all(Array.from({ length: 4 }, () => store.getKeyForUse('k', 'v1')));

          await cluster.halt();
          await assert.rejects(store.getKeyForUse('k', 'v1'), unavailable);
          let built = 0;
          await assert.rejects(
            store.appendAuditRows((tail) => {
              built += 1;
              return [nextRow(tail, 'during')];
            }),
            unavailable,
          );
          assert.equal(built, 0, 'nothing was built without the head lock');
          await assert.rejects(store.setMetaIfAbsent('m', 'v'), unavailable);
          const started = performance.now();
          assert.equal(await store.probeHealth(), 'unavailable');
          assert.ok(performance.now() - started < 2000, 'the probe does not wait long');
          assert.ok(warnings.length >= 1, 'the connections the shutdown killed were reported');

          await cluster.resume();
          assert.equal(await store.probeHealth(), 'ok');
          assert.equal((await store.getKeyForUse('k', 'v1'))?.version?.keyId, 'v1');
          const rows = await store.appendAuditRows((tail) => [nextRow(tail, 'after')]);
          assert.equal(rows[0]?.seq, 2, 'the chain continues where it was');
          assert.equal((await store.getAuditRow(1))?.requestId, 'before');
          assert.equal(await store.auditTreeSize(), 2);
          assert.equal(await store.setMetaIfAbsent('m', 'v'), 'v');
        } finally {
          await store.close();
        }
      } finally {
        await cluster.stop();
      }
    },
  );
});
