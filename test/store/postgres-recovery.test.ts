/**
 * The PostgreSQL backend survives its server going away and coming back: calls fail ERR_STORE_UNAVAILABLE
 * meanwhile (no crash from the connections the shutdown killed), and the same store serves again once the
 * server is back, without being reopened; a real key service answers 503 meanwhile (no key material without
 * its durable audit record) and serves again afterwards. Runs throwaway clusters of its own, which it stops
 * and restarts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { JWK } from 'jose';
import { loadConfig } from '../../src/config/index.js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { openAuditStoreAt } from '../../src/keystore/index.js';
import { startServer, type RunningServer } from '../../src/service/server.js';
import {
  authConfigFor,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
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

async function call(
  server: RunningServer,
  method: string,
  urlPath: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> | undefined; ms: number }> {
  const started = performance.now();
  const response = await fetch(server.url + urlPath, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, ms: performance.now() - started };
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

  void test(
    'dke serve on PostgreSQL: unwraps fail closed (503) while the server is down and succeed once it is back',
    { timeout: 300_000 },
    async (t) => {
      const cluster = await ownCluster(t);
      if (cluster === undefined) return;
      const dir = mkdtempSync(path.join(tmpdir(), 'dke-pg-outage-'));
      const issuer = await startTestIssuer();
      let server: RunningServer | undefined;
      try {
        const configFile = path.join(dir, 'dke.json');
        writeFileSync(
          configFile,
          JSON.stringify({
            server: { host: '127.0.0.1', port: 0 },
            store: { database: cluster.url, postgres: { connectionTimeoutMs: 1000 } },
            auth: authConfigFor([issuerConfigFor(issuer, { ...TEST_CLAIMS, adminRoles: ['dke-admin'] })]),
            logging: { level: 'warn' },
          }),
        );
        const config = loadConfig({ file: configFile, env: {} });
        const logs: string[] = [];
        server = await startServer(config, { logDestination: { write: (l) => void logs.push(l) }, env: {} });
        const admin = await validToken(issuer, {
          sub: 'admin-1',
          upn: 'admin@example.test',
          roles: ['dke-admin'],
        });
        const alice = await validToken(issuer, { upn: 'alice@example.test' });
        const created = await call(server, 'POST', '/admin/keys', admin, {
          name: 'docs',
          spec: 'P-256',
          policy: { users: ['alice@example.test'] },
        });
        assert.equal(created.status, 201);
        const published = await call(server, 'GET', '/keys/docs');
        const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
          objectId: randomBytes(16),
          keyId: published.json?.keyId as string,
        });
        const unwrap = (): ReturnType<typeof call> =>
          call(server as RunningServer, 'POST', '/keys/docs/unwrap', alice, { stanza });
        assert.equal((await unwrap()).status, 200);

        await cluster.halt();
        const during = await unwrap();
        assert.equal(during.status, 503, 'no key material while the store is down');
        assert.ok(!JSON.stringify(during.json).includes('ECONNREFUSED'), 'no driver text for the client');
        const health = await call(server, 'GET', '/healthz');
        assert.equal(health.status, 200);
        assert.deepEqual([health.json?.status, health.json?.store], ['degraded', 'unavailable']);
        assert.ok(health.ms < 3000, `healthz answered in ${health.ms.toFixed(0)} ms`);

        await cluster.resume();
        const after = await unwrap();
        assert.equal(after.status, 200, 'the same process serves again, no restart');
        assert.equal((await call(server, 'GET', '/healthz')).json?.store, 'ok');
        await server.close();
        server = undefined;

        const audit = await openAuditStoreAt({ dbPath: cluster.url });
        try {
          assert.equal((await audit.audit.verify()).ok, true);
          const unwraps = (await audit.audit.query({ limit: 100 })).filter((r) =>
            r.action.endsWith('unwrap'),
          );
          const allowed = unwraps.filter((r) => r.result === 'allowed');
          assert.equal(allowed.length, 2, 'each of the two answered unwraps has its record');
        } finally {
          await audit.close();
        }
      } finally {
        await server?.close();
        await issuer.close();
        rmSync(dir, { recursive: true, force: true });
        await cluster.stop();
      }
    },
  );
});
