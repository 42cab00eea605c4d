/**
 * TLS to PostgreSQL against a real server with TLS on (a cluster of the test's own, with the self-signed
 * 127.0.0.1 certificate of test/service/fixtures): verify-full with the right CA connects over TLS, without
 * it the certificate is refused (503, nothing sent), `require` encrypts without checking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isDkeError } from '../../src/errors/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { repoRoot } from '../support/paths.js';
import { TestCluster, whenPostgres, withClient } from '../support/postgres.js';

const FIXTURES = path.join(repoRoot, 'test', 'service', 'fixtures');
const CA = path.join(FIXTURES, 'tls-cert.pem');

/** Copies the fixture certificate and key into the cluster's directory, owned by the server's user. */
function installCertificate(cluster: TestCluster): { cert: string; key: string } {
  const owner = fs.statSync(cluster.dir);
  const cert = path.join(cluster.dir, 'server.crt');
  const key = path.join(cluster.dir, 'server.key');
  fs.copyFileSync(CA, cert);
  fs.copyFileSync(path.join(FIXTURES, 'tls-key.pem'), key);
  for (const file of [cert, key]) {
    fs.chmodSync(file, 0o600);
    fs.chownSync(file, owner.uid, owner.gid);
  }
  return { cert, key };
}

whenPostgres('TLS to PostgreSQL', () => {
  void test(
    'sslMode verify-full checks the certificate; require encrypts',
    { timeout: 300_000 },
    async (t) => {
      let cluster: TestCluster;
      try {
        cluster = await TestCluster.start();
      } catch (error) {
        const reason = `cannot start a PostgreSQL cluster of its own: ${(error as Error).message}`;
        if (process.env.CI === 'true') throw new Error(reason);
        t.skip(reason);
        return;
      }
      try {
        const { cert, key } = installCertificate(cluster);
        await withClient(cluster.url, async (c) => {
          await c.query(`ALTER SYSTEM SET ssl_cert_file = '${cert}'`);
          await c.query(`ALTER SYSTEM SET ssl_key_file = '${key}'`);
          await c.query('ALTER SYSTEM SET ssl = on');
          await c.query('SELECT pg_reload_conf()');
        });
        // Reloading is asynchronous: wait until new connections get TLS.
        const deadline = Date.now() + 10_000;
        for (;;) {
          try {
            await (await openPostgresStore(cluster.url, { sslMode: 'require' })).close();
            break;
          } catch (error) {
            if (Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }

        const verified = await openPostgresStore(cluster.url, {
          sslMode: 'verify-full',
          caFile: CA,
          applicationName: 'opendke-tls-test',
        });
        try {
          assert.equal(await verified.setMetaIfAbsent('m', 'over tls'), 'over tls');
          const sessions = await withClient(cluster.url, async (c) => {
            const result = await c.query<{ ssl: boolean }>(
              `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'opendke-tls-test'`,
            );
            return result.rows;
          });
          assert.ok(sessions.length >= 1, 'the store has a connection');
          assert.ok(
            sessions.every((s) => s.ssl),
            'every connection of the store is encrypted',
          );
        } finally {
          await verified.close();
        }

        // The system's roots do not include the self-signed certificate: refused before anything is sent.
        await assert.rejects(openPostgresStore(cluster.url, { sslMode: 'verify-full' }), (e: unknown) => {
          assert.ok(isDkeError(e, 'ERR_STORE_UNAVAILABLE'), String(e));
          assert.match(e.detail ?? '', /certificate|SELF_SIGNED/i);
          return true;
        });
        // `require` encrypts but checks nothing (only a passive listener is kept out).
        await (await openPostgresStore(cluster.url, { sslMode: 'require' })).close();
      } finally {
        await cluster.stop();
      }
    },
  );
});
