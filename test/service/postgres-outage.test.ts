/**
 * PostgreSQL stopped under load (docs/deploy.md): a real `dke serve` on a PostgreSQL cluster of this test's
 * own, which is shut down (fast: every connection is cut) in the middle of a stream of unwraps and started
 * again. While it is down the service fails closed (503, /healthz 503 "unavailable"), never answering 200
 * without a durable record; once it is back the same process serves again, without a restart, and every
 * unwrap it acknowledged, before, during or after, is in the log, which verifies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { openStore } from '../../src/store/open.js';
import { StoreAuditLog } from '../../src/audit/index.js';
import {
  authConfigFor,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
import { createTestDatabase, TestCluster, whenPostgres, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/format-helpers.js';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../support/server-process.js';

const ALICE = 'alice@example.test';
const WORKERS = 6;

interface Outcome {
  readonly phase: 'before' | 'down' | 'after';
  readonly status: number;
  readonly error?: string;
  readonly requestId: string | null;
}

// The cluster of its own needs the server binaries that the shared one proves are installed.
whenPostgres('the key service while PostgreSQL is stopped', () => {
  void describe('the key service while PostgreSQL is stopped and started again', () => {
    let cluster: TestCluster;
    let db: TestDatabase;
    let issuer: DevIssuer;
    let dir: string;
    let server: ServerProcess;

    before(async () => {
      cluster = await TestCluster.start();
      db = await createTestDatabase(cluster.url);
      issuer = await startTestIssuer();
      dir = mkdtempSync(path.join(tmpdir(), 'dke-pg-outage-'));
      const configFile = path.join(dir, 'dke.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          server: { host: '127.0.0.1', port: 0 },
          // Short timeouts so a request waiting on the stopped server fails within the test's time.
          store: { database: db.url, masterKeyFile: 'master.key', postgres: { connectionTimeoutMs: 1000 } },
          auth: authConfigFor([issuerConfigFor(issuer, TEST_CLAIMS)]),
          logging: { level: 'warn' },
        }),
      );
      for (const args of [
        ['key', 'create', 'k', '--spec', 'P-256'],
        ['key', 'policy', 'k', '--users', ALICE],
      ]) {
        const result = await runCli([...args, '-c', configFile], { cwd: dir });
        assert.equal(result.code, 0, result.stderr);
      }
      server = await startServerProcess(configFile, { cwd: dir, startTimeoutMs: 60_000 });
    });

    after(async () => {
      if (server !== undefined) await stopServerProcess(server);
      await issuer?.close();
      await db?.drop().catch(() => undefined);
      await cluster?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('fails closed with 503 while it is down, never 200 without a record, and recovers by itself', async () => {
      const alice = await validToken(issuer, { upn: ALICE });
      const published = (await (await fetch(`${server.url}/keys/k`)).json()) as { jwk: JWK; keyId: string };
      const share = randomBytes(32);
      const stanza = await wrapShare(share, publicKeyFromJwk(published.jwk), {
        objectId: randomBytes(16),
        keyId: published.keyId,
      });
      let phase: Outcome['phase'] = 'before';
      let running = true;
      const outcomes: Outcome[] = [];
      const worker = async (): Promise<void> => {
        while (running) {
          const at = phase;
          const response = await fetch(`${server.url}/keys/k/unwrap`, {
            method: 'POST',
            headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
            body: JSON.stringify({ stanza }),
          });
          const body = (await response.json()) as Record<string, unknown>;
          if (response.status === 200) assert.equal(body.share, share.toString('base64url'));
          outcomes.push({
            phase: at,
            status: response.status,
            requestId: response.headers.get('x-request-id'),
            ...(typeof body.error === 'string' ? { error: body.error } : {}),
          });
          if (response.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const load = Promise.all(Array.from({ length: WORKERS }, () => worker()));
      const health = async (): Promise<{ status: number; body: Record<string, unknown>; ms: number }> => {
        const started = Date.now();
        const response = await fetch(`${server.url}/healthz`);
        const body = (await response.json()) as Record<string, unknown>;
        return { status: response.status, body, ms: Date.now() - started };
      };

      await new Promise((resolve) => setTimeout(resolve, 800));
      await cluster.halt();
      phase = 'down';
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const downHealth = await health();
      await cluster.resume();
      phase = 'after';
      // Recovery: the same process answers 200 again once the pool reconnects.
      const recoveredBy = Date.now() + 30_000;
      while (Date.now() < recoveredBy && !outcomes.some((o) => o.phase === 'after' && o.status === 200)) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      running = false;
      await load;
      const upHealth = await health();

      assert.equal(downHealth.status, 503, JSON.stringify(downHealth.body));
      assert.equal(downHealth.body.store, 'unavailable');
      assert.ok(downHealth.ms < 3_000, `/healthz answered in ${downHealth.ms} ms while PostgreSQL was down`);
      assert.equal(upHealth.status, 200, JSON.stringify(upHealth.body));
      assert.equal(upHealth.body.store, 'ok');

      const down = outcomes.filter((o) => o.phase === 'down');
      assert.ok(down.length > 0, 'requests were made while PostgreSQL was down');
      for (const outcome of down.filter((o) => o.status !== 200)) {
        assert.equal(outcome.status, 503, JSON.stringify(outcome));
        assert.ok(
          ['ERR_STORE_UNAVAILABLE', 'ERR_AUDIT_UNAVAILABLE'].includes(outcome.error ?? ''),
          JSON.stringify(outcome),
        );
      }
      assert.ok(
        down.some((o) => o.status === 503),
        'the service answered 503 while PostgreSQL was down',
      );
      assert.ok(
        outcomes.some((o) => o.phase === 'before' && o.status === 200),
        'unwraps succeeded before the outage',
      );
      assert.ok(
        outcomes.some((o) => o.phase === 'after' && o.status === 200),
        'the same process served unwraps again after PostgreSQL came back',
      );
      for (const outcome of outcomes) {
        assert.ok([200, 503].includes(outcome.status), `only 200 or 503: ${JSON.stringify(outcome)}`);
      }

      const store = await openStore(db.url);
      try {
        const log = new StoreAuditLog(store);
        const report = await log.verify();
        assert.equal(report.ok, true, JSON.stringify(report));
        for (const outcome of outcomes.filter((o) => o.status === 200)) {
          const records = await log.findByRequestId(outcome.requestId ?? '');
          assert.equal(records.length, 1, `acknowledged request ${String(outcome.requestId)} has its record`);
          assert.equal(records[0]?.result, 'allowed');
        }
        await log.close();
      } finally {
        await store.close();
      }
    });
  });
});
