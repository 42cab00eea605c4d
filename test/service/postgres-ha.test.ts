/**
 * High availability on PostgreSQL (docs/deploy.md): three real `dke serve` processes on one database, with
 * real tokens from a dev issuer. Concurrent unwraps spread over all three while one is killed with SIGKILL:
 * every acknowledged unwrap has its `allowed` record and the one shared log verifies (chain and Merkle tree,
 * no fork). A change made through one instance (or the CLI) is refused by the others on their next request.
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
import { createTestDatabase, whenPostgres, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/format-helpers.js';
import {
  killServerProcess,
  startServerProcess,
  stopServerProcess,
  type ServerProcess,
} from '../support/server-process.js';
import { ADMIN_ROLE, AUTHORITY, requestAt, type HttpAnswer } from './harness.js';

const ALICE = 'alice@example.test';
const MIN_BEFORE_KILL = 10;
const LOAD_AFTER_KILL_MS = 1_500;
const WORKERS = 9;

whenPostgres('three key service instances on one PostgreSQL', (adminUrl) => {
  void describe('three dke serve instances on one PostgreSQL', () => {
    let db: TestDatabase;
    let issuer: DevIssuer;
    let dir: string;
    let configFile: string;
    const servers: ServerProcess[] = [];
    let alice: string;
    let admin: string;

    const start = (): Promise<ServerProcess> =>
      startServerProcess(configFile, { cwd: dir, startTimeoutMs: 60_000 });

    const call = (
      server: ServerProcess,
      method: string,
      urlPath: string,
      token: string,
      body?: unknown,
    ): Promise<HttpAnswer> =>
      requestAt(server.url, method, urlPath, { token, ...(body === undefined ? {} : { body }) });

    async function cli(args: readonly string[]): Promise<string> {
      // The config right after the sub-command, so callers can end the options with `--`.
      const [command, subcommand, ...rest] = args;
      const result = await runCli([command ?? '', subcommand ?? '', '-c', configFile, ...rest], { cwd: dir });
      assert.equal(result.code, 0, `dke ${args.join(' ')}: ${result.stderr}`);
      return result.stdout.toString('utf8');
    }

    /** A share wrapped to the key's published public key for a fresh object, as a client does. */
    async function wrapFor(
      server: ServerProcess,
      name: string,
    ): Promise<{ stanza: string; share: Buffer; objectId: string }> {
      const published = await fetch(`${server.url}/keys/${name}`);
      assert.equal(published.status, 200);
      const body = (await published.json()) as { jwk: JWK; keyId: string };
      const share = randomBytes(32);
      const objectId = randomBytes(16);
      const stanza = await wrapShare(share, publicKeyFromJwk(body.jwk), { objectId, keyId: body.keyId });
      return { stanza, share, objectId: objectId.toString('base64url') };
    }

    async function expectUnwrap(
      server: ServerProcess,
      name: string,
      stanza: string,
      status: number,
      code?: string,
    ): Promise<void> {
      const answer = await call(server, 'POST', `/keys/${name}/unwrap`, alice, { stanza });
      assert.equal(answer.status, status, `${server.url}: ${JSON.stringify(answer.json)}`);
      if (code !== undefined) assert.equal(answer.json?.error, code);
    }

    before(async () => {
      db = await createTestDatabase(adminUrl);
      issuer = await startTestIssuer();
      dir = mkdtempSync(path.join(tmpdir(), 'dke-ha-'));
      configFile = path.join(dir, 'dke.json');
      const auth = authConfigFor([issuerConfigFor(issuer, { ...TEST_CLAIMS, adminRoles: [ADMIN_ROLE] })], {
        challenge: { authority: AUTHORITY },
      });
      writeFileSync(
        configFile,
        JSON.stringify({
          server: { host: '127.0.0.1', port: 0 },
          store: { database: db.url, masterKeyFile: 'master.key' },
          auth,
          audit: { log: { checkpointIntervalSeconds: 1 } },
          logging: { level: 'warn' },
        }),
      );
      // The CLI creates the master key and the schema; then the instances start together.
      await cli(['key', 'create', 'ha', '--spec', 'P-256']);
      await cli(['key', 'policy', 'ha', '--users', ALICE]);
      servers.push(...(await Promise.all([start(), start(), start()])));
      alice = await validToken(issuer, { upn: ALICE });
      admin = await validToken(issuer, { sub: 'admin-1', upn: 'admin@example.test', roles: [ADMIN_ROLE] });
    });

    after(async () => {
      await Promise.all(servers.map((server) => stopServerProcess(server)));
      await issuer?.close();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('spreads concurrent unwraps over all three; one SIGKILLed mid-load; every acknowledged unwrap is in the one verified log', async () => {
      const { stanza, share } = await wrapFor(servers[0] as ServerProcess, 'ha');
      const acknowledged: string[] = [];
      const perInstance = [0, 0, 0];
      let refused = 0;
      let connectionErrors = 0;
      const victim = servers[1] as ServerProcess;
      // Load runs until LOAD_AFTER_KILL_MS after the kill; the kill comes once every instance has served some.
      let deadline = Number.POSITIVE_INFINITY;
      const killed = (async (): Promise<void> => {
        const latest = Date.now() + 60_000;
        while (perInstance.some((count) => count < MIN_BEFORE_KILL) && Date.now() < latest) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await killServerProcess(victim);
        deadline = Date.now() + LOAD_AFTER_KILL_MS;
      })();
      const worker = async (w: number): Promise<void> => {
        for (let n = w; Date.now() < deadline; n += 1) {
          const index = n % 3;
          try {
            const answer = await call(servers[index] as ServerProcess, 'POST', '/keys/ha/unwrap', alice, {
              stanza,
            });
            if (answer.status === 200) {
              assert.equal(answer.json?.share, share.toString('base64url'));
              assert.ok(answer.headers.get('x-request-id') !== null);
              acknowledged.push(answer.headers.get('x-request-id') ?? '');
              perInstance[index] = (perInstance[index] as number) + 1;
            } else {
              refused += 1;
            }
          } catch {
            connectionErrors += 1; // the killed instance: nothing acknowledged
          }
        }
      };
      await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), killed]);
      assert.equal(refused, 0, 'no instance refused while the database was up');
      for (const [index, count] of perInstance.entries()) {
        assert.ok(count > 0, `instance ${index} served unwraps (${perInstance.join('/')})`);
      }
      assert.ok(connectionErrors > 0, 'the killed instance stopped answering');
      assert.ok(victim.child.signalCode === 'SIGKILL');

      // A new process takes the killed one's place (a restart after SIGKILL needs no repair).
      servers[1] = await start();

      const store = await openStore(db.url);
      try {
        const log = new StoreAuditLog(store);
        const report = await log.verify();
        assert.equal(report.ok, true, JSON.stringify(report));
        for (const requestId of acknowledged) {
          const records = await log.findByRequestId(requestId);
          assert.equal(records.length, 1, `request ${requestId} has its record`);
          assert.equal(records[0]?.result, 'allowed');
          assert.equal(records[0]?.action, 'native.unwrap');
        }
        assert.ok(report.records >= acknowledged.length);
        await log.close();
      } finally {
        await store.close();
      }
    });

    it('a key disabled, enabled, re-policied or destroyed through one instance (or an object revoked by the CLI) is refused by the others on their next request', async () => {
      const [one, two, three] = servers as [ServerProcess, ServerProcess, ServerProcess];
      const { stanza, objectId } = await wrapFor(one, 'ha');
      // Every instance has used the key (its private key is unsealed in each process's memory).
      for (const server of servers) await expectUnwrap(server, 'ha', stanza, 200);

      assert.equal((await call(one, 'POST', '/admin/keys/ha/disable', admin)).status, 200);
      await expectUnwrap(two, 'ha', stanza, 403, 'ERR_KEY_DISABLED');
      await expectUnwrap(three, 'ha', stanza, 403, 'ERR_KEY_DISABLED');

      assert.equal((await call(three, 'POST', '/admin/keys/ha/enable', admin)).status, 200);
      await expectUnwrap(one, 'ha', stanza, 200);
      await expectUnwrap(two, 'ha', stanza, 200);

      await cli(['key', 'revoke', '--', 'ha', objectId]); // an object id may begin with '-' (base64url)
      for (const server of servers) await expectUnwrap(server, 'ha', stanza, 403, 'ERR_OBJECT_REVOKED');
      await cli(['key', 'unrevoke', '--', 'ha', objectId]);
      for (const server of servers) await expectUnwrap(server, 'ha', stanza, 200);

      const policy = await call(two, 'PUT', '/admin/keys/ha/policy', admin, { users: ['bob@example.test'] });
      assert.equal(policy.status, 200);
      await expectUnwrap(one, 'ha', stanza, 403, 'ERR_FORBIDDEN');
      await expectUnwrap(three, 'ha', stanza, 403, 'ERR_FORBIDDEN');

      const created = await call(one, 'POST', '/admin/keys', admin, {
        name: 'gone',
        spec: 'P-256',
        policy: { users: [ALICE] },
      });
      assert.equal(created.status, 201);
      const gone = await wrapFor(one, 'gone');
      for (const server of servers) await expectUnwrap(server, 'gone', gone.stanza, 200);
      const destroyed = await call(three, 'POST', '/admin/keys/gone/destroy', admin, { confirm: 'gone' });
      assert.equal(destroyed.status, 200);
      await expectUnwrap(one, 'gone', gone.stanza, 410, 'ERR_KEY_DESTROYED');
      await expectUnwrap(two, 'gone', gone.stanza, 410, 'ERR_KEY_DESTROYED');
    });
  });
});
