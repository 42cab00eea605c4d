/**
 * Two real key service instances (startServer, real HTTP) on one PostgreSQL database and one master key:
 * a key created through one is served by the other, a lifecycle change through one applies to the next
 * request on the other, unwraps on both land in one audit log that verifies, and the CLI works on the same
 * database (`--db postgres://...`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { loadConfig } from '../../src/config/index.js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { openAuditStoreAt } from '../../src/keystore/index.js';
import { startServer, type RunningServer } from '../../src/service/server.js';
import { runCli } from '../support/format-helpers.js';
import {
  authConfigFor,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
import { createTestDatabase, whenPostgres } from '../support/postgres.js';
import { requestAt, type HttpAnswer } from './harness.js';

const ADMIN_ROLE = 'dke-admin';
const ALICE = 'alice@example.test';

type Answer = HttpAnswer;

const call = (
  server: RunningServer,
  method: string,
  urlPath: string,
  token?: string,
  body?: unknown,
): Promise<Answer> =>
  requestAt(server.url, method, urlPath, {
    ...(token === undefined ? {} : { token }),
    ...(body === undefined ? {} : { body }),
  });

whenPostgres('key service instances on PostgreSQL', (adminUrl) => {
  void test('two instances on one PostgreSQL database serve one set of keys and one audit log', async () => {
    const db = await createTestDatabase(adminUrl);
    const dir = mkdtempSync(path.join(tmpdir(), 'dke-pg-svc-'));
    const issuer = await startTestIssuer();
    const servers: RunningServer[] = [];
    try {
      const configFile = path.join(dir, 'dke.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          server: { host: '127.0.0.1', port: 0 },
          store: { database: db.url, masterKeyFile: 'master.key', postgres: { maxConnections: 4 } },
          auth: authConfigFor([issuerConfigFor(issuer, { ...TEST_CLAIMS, adminRoles: [ADMIN_ROLE] })]),
          logging: { level: 'warn' },
        }),
      );
      const config = loadConfig({ file: configFile, env: {} });
      assert.equal(config.store.database, db.url);
      const logs: string[] = [];
      const start = async (): Promise<RunningServer> => {
        const server = await startServer(config, {
          logDestination: { write: (l) => void logs.push(l) },
          env: {},
        });
        servers.push(server);
        return server;
      };
      const a = await start(); // creates the master key file
      const b = await start();
      const admin = await validToken(issuer, {
        sub: 'admin-1',
        upn: 'admin@example.test',
        roles: [ADMIN_ROLE],
      });
      const alice = await validToken(issuer, { upn: ALICE });

      const created = await call(a, 'POST', '/admin/keys', admin, {
        name: 'docs',
        spec: 'P-256',
        policy: { users: [ALICE] },
      });
      assert.equal(created.status, 201, created.text);
      const published = await call(b, 'GET', '/keys/docs');
      assert.equal(published.status, 200, 'the key created through A is served by B');
      const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
        objectId: randomBytes(16),
        keyId: published.json?.keyId as string,
      });
      const unwrap = (server: RunningServer): Promise<Answer> =>
        call(server, 'POST', '/keys/docs/unwrap', alice, { stanza });

      assert.equal((await unwrap(a)).status, 200);
      assert.equal((await unwrap(b)).status, 200);
      assert.equal((await call(b, 'POST', '/admin/keys/docs/disable', admin)).status, 200);
      const refused = await unwrap(a);
      assert.notEqual(refused.status, 200, 'disabled through B: refused by A on the next request');
      assert.equal((await call(a, 'POST', '/admin/keys/docs/enable', admin)).status, 200);
      const together = await Promise.all(Array.from({ length: 20 }, (_, i) => unwrap(i % 2 === 0 ? a : b)));
      assert.deepEqual(
        together.map((r) => r.status),
        Array.from({ length: 20 }, () => 200),
      );
      for (const server of [a, b]) {
        const health = await call(server, 'GET', '/healthz');
        assert.equal(health.json?.store, 'ok', health.text);
      }

      // Both instances' records are one chain in one tree.
      for (const server of servers.splice(0)) await server.close();
      const audit = await openAuditStoreAt({ dbPath: db.url });
      try {
        const report = await audit.audit.verify();
        assert.equal(report.ok, true, JSON.stringify(report));
        const unwraps = (await audit.audit.query({ limit: 1000 })).filter((r) => r.action.endsWith('unwrap'));
        assert.equal(
          unwraps.length,
          23,
          'every unwrap, allowed or refused, on either instance, recorded once',
        );
        assert.equal(report.records, await audit.store.auditTreeSize());
      } finally {
        await audit.close();
      }

      // The CLI on the same database.
      const env = { DKE_MASTER_KEY_FILE: path.join(dir, 'master.key') };
      const listed = await runCli(['key', 'list', '--db', db.url, '--json'], { env });
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout.toString('utf8'), /"docs"/);
      const verified = await runCli(['audit', 'verify', '--db', db.url], { env });
      assert.equal(verified.code, 0, verified.stderr);
      assert.ok(!logs.some((line) => /"level":[56]0/.test(line)), `no errors logged: ${logs.join('\n')}`);
    } finally {
      for (const server of servers) await server.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  });
});
