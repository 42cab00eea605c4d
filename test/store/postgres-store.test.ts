/**
 * The PostgreSQL backend against a real server (DKE_TEST_POSTGRES_URL, started by scripts/test.sh): the
 * shared contract suite, then what only PostgreSQL has: several instances appending to one log, openers
 * migrating at once, schema checks, lock timeouts, dropped connections, unreachable servers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type pg from 'pg';
import { performance } from 'node:perf_hooks';
import { isDkeError } from '../../src/errors/index.js';
import { auditRecordHash, canonicalAuditText } from '../../src/audit/index.js';
import {
  MIGRATIONS,
  type AuditRow,
  type AuditTail,
  type DkeStore,
  type NewKeyVersion,
} from '../../src/store/index.js';
import {
  openPostgresStore,
  POSTGRES_LATEST_SCHEMA_VERSION,
  POSTGRES_MIGRATIONS,
  type PostgresStore,
  type PostgresStoreOptions,
} from '../../src/store/postgres/index.js';
import { poolSettings } from '../../src/store/postgres/connection.js';
import { rootPlan } from '../../src/transparency/proof-plan.js';
import { recordLeaf, referenceRoot } from '../support/mth.js';
import { createTestDatabase, whenPostgres, withClient, type TestDatabase } from '../support/postgres.js';
import { auditRow, runStoreSuite, version } from './store-suite.js';

const T0 = '2025-01-01T00:00:00.000Z';

whenPostgres('the PostgreSQL store contract suite', (adminUrl) => {
  runStoreSuite('postgres', () => {
    let database: Promise<TestDatabase> | undefined;
    return {
      open: async () => openPostgresStore((await (database ??= createTestDatabase(adminUrl))).url),
      cleanup: async () => {
        if (database !== undefined) await (await database).drop();
      },
    };
  });
});

/** Runs `body` with a fresh database, dropped afterwards (also when the body fails). */
const withDatabase =
  (adminUrl: string, body: (db: TestDatabase) => Promise<void>) => async (): Promise<void> => {
    const db = await createTestDatabase(adminUrl);
    try {
      await body(db);
    } finally {
      await db.drop();
    }
  };

/** Opens stores and closes them all at the end of the test. */
async function withStores(
  url: string,
  body: (open: (options?: PostgresStoreOptions) => Promise<PostgresStore>) => Promise<void>,
): Promise<void> {
  const opened: PostgresStore[] = [];
  try {
    await body(async (options) => {
      const store = await openPostgresStore(url, options);
      opened.push(store);
      return store;
    });
  } finally {
    await Promise.all(opened.map((store) => store.close()));
  }
}

/** Rows continuing `tail` with real chained hashes (as src/audit builds them). */
function chainedRows(tail: AuditTail | undefined, count: number, writer: number): AuditRow[] {
  let last = tail;
  return Array.from({ length: count }, (_, i) => {
    const unhashed = auditRow(last, { subject: `writer-${writer}`, requestId: `w${writer}-${i}` });
    const row = { ...unhashed, hash: auditRecordHash(unhashed) };
    last = { seq: row.seq, hash: row.hash };
    return row;
  });
}

/** Checks the whole log: contiguous seqs, each record linked to and hashed over its predecessor, the stored
 * Merkle root equal to the reference root over all leaves. Returns the number of records. */
async function checkNoFork(store: DkeStore): Promise<number> {
  const leaves: Buffer[] = [];
  let previous: AuditRow | undefined;
  for await (const row of store.iterateAuditRows()) {
    assert.equal(row.seq, leaves.length + 1, 'seqs are contiguous');
    assert.equal(
      row.prevHash,
      previous?.hash ?? '0'.repeat(64),
      `record ${row.seq} links to its predecessor`,
    );
    assert.equal(row.hash, auditRecordHash(row), `record ${row.seq} hash`);
    leaves.push(recordLeaf(row));
    previous = row;
  }
  let links = 0;
  for await (const [hash, seq, , text] of store.iterateAuditChain()) {
    links += 1;
    assert.equal(seq, links);
    if (seq % 97 === 1) assert.equal(text, canonicalAuditText((await store.getAuditRow(seq)) as AuditRow));
    assert.equal(hash.length, 64);
  }
  assert.equal(links, leaves.length);
  assert.equal(await store.auditTreeSize(), leaves.length, 'the tree covers every record');
  const plan = rootPlan(leaves.length);
  const root = plan.assemble(await store.readAuditTreeNodes(plan.nodes))[0] as Buffer;
  assert.deepEqual(root, referenceRoot(leaves), 'stored tree root = reference root');
  return leaves.length;
}

/** `writers` separate stores (as many instances) appending batches of 1-20 rows for `ms`. */
async function appendConcurrently(
  url: string,
  writers: number,
  ms: number,
): Promise<{ appends: number; rows: number; seconds: number }> {
  const stores = await Promise.all(
    Array.from({ length: writers }, () => openPostgresStore(url, { maxConnections: 2 })),
  );
  try {
    let appends = 0;
    let rows = 0;
    const started = performance.now();
    const deadline = started + ms;
    await Promise.all(
      stores.map(async (store, writer) => {
        let round = 0;
        while (performance.now() < deadline) {
          const count = 1 + ((round * 7 + writer * 3) % 20);
          round += 1;
          const written = await store.appendAuditRows((tail) => chainedRows(tail, count, writer));
          appends += 1;
          rows += written.length;
        }
      }),
    );
    return { appends, rows, seconds: (performance.now() - started) / 1000 };
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

whenPostgres('the PostgreSQL store', (adminUrl) => {
  void describe('postgres store', () => {
    void test('migrations have the SQLite numbers and descriptions', () => {
      assert.deepEqual(
        POSTGRES_MIGRATIONS.map((m) => [m.version, m.description]),
        MIGRATIONS.map((m) => [m.version, m.description]),
      );
      assert.equal(POSTGRES_LATEST_SCHEMA_VERSION, 6);
    });

    void test(
      'three instances opening a new database at once migrate it exactly once',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const stores = await Promise.all([open(), open(), open()]);
          const rows = await withClient(db.url, async (c) => {
            const result = await c.query<{ version: number; description: string }>(
              'SELECT version, description FROM schema_version ORDER BY version',
            );
            return result.rows;
          });
          assert.deepEqual(
            rows.map((r) => r.version),
            [1, 2, 3, 4, 5, 6],
          );
          // All three work on the one schema.
          await Promise.all(stores.map((s, i) => s.setMetaIfAbsent('first', `opener-${i}`)));
          const values = await Promise.all(stores.map((s) => s.getMeta('first')));
          assert.equal(new Set(values).size, 1, 'setMetaIfAbsent: one winner everywhere');
          // Reopening migrates nothing again.
          await open();
          const count = await withClient(db.url, (c) => c.query('SELECT count(*) AS n FROM schema_version'));
          assert.equal(Number((count.rows[0] as { n: string }).n), 6);
        });
      }),
    );

    void test(
      'a store written by a newer OpenDKE is refused; read-only opens need the current schema',
      withDatabase(adminUrl, async (db) => {
        await assert.rejects(
          openPostgresStore(db.url, { readonly: true }),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /schema upgrade/.test(e.message),
        );
        await (await openPostgresStore(db.url)).close();
        const readonly = await openPostgresStore(db.url, { readonly: true });
        try {
          assert.equal(await readonly.getMeta('m'), undefined);
          await assert.rejects(
            readonly.setMetaIfAbsent('m', 'v'),
            (e: unknown) => isDkeError(e) && /25006|read-only/.test(e.detail ?? ''),
          );
        } finally {
          await readonly.close();
        }
        await withClient(db.url, (c) =>
          c.query(`INSERT INTO schema_version VALUES (99, 'from the future', '2099-01-01T00:00:00.000Z')`),
        );
        for (const readonly of [false, true]) {
          await assert.rejects(
            openPostgresStore(db.url, { readonly }),
            (e: unknown) =>
              isDkeError(e, 'ERR_CONFIG_INVALID') &&
              /written by a newer OpenDKE/.test(e.message) &&
              /99/.test(e.detail ?? ''),
          );
        }
      }),
    );

    void test(
      "commits are durable before they are acknowledged even where the database's default says otherwise",
      withDatabase(adminUrl, async (db) => {
        await withClient(db.url, (c) => c.query(`ALTER DATABASE ${db.name} SET synchronous_commit = off`));
        const show = (config: pg.ClientConfig): Promise<string> =>
          withClient(
            config,
            async (c) =>
              (await c.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]!.s,
          );
        // The default now applies to a plain session, so the check below can fail.
        assert.equal(await show({ connectionString: db.url }), 'off');
        assert.equal(await show(poolSettings(db.url).config), 'on');
      }),
    );

    void test(
      'eight instances appending at once never fork the log (contiguous, chained, one tree); appends/s',
      { timeout: 120_000 },
      withDatabase(adminUrl, async (db) => {
        await (await openPostgresStore(db.url)).close(); // migrate once, outside the timing
        const single = await appendConcurrently(db.url, 1, 2000);
        const eight = await appendConcurrently(db.url, 8, 4000);
        await withStores(db.url, async (open) => {
          const store = await open();
          const records = await checkNoFork(store);
          assert.equal(records, single.rows + eight.rows, 'every acknowledged row is stored once');
        });
        assert.ok(eight.appends > 8, `eight writers committed only ${eight.appends} appends`);
        const rate = (r: { appends: number; rows: number; seconds: number }): string =>
          `${Math.round(r.appends / r.seconds)} appends/s (${Math.round(r.rows / r.seconds)} rows/s)`;
        console.log(`postgres audit appends: 1 writer ${rate(single)}; 8 writers ${rate(eight)}`);
      }),
    );

    void test(
      'an append that cannot get the head lock within lockTimeoutMs fails ERR_STORE_BUSY and writes nothing',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const store = await open({ lockTimeoutMs: 300 });
          await store.appendAuditRows((tail) => chainedRows(tail, 2, 0));
          await withClient(db.url, async (holder) => {
            await holder.query('BEGIN');
            await holder.query('SELECT * FROM audit_head FOR UPDATE');
            const started = performance.now();
            let built = 0;
            await assert.rejects(
              store.appendAuditRows((tail) => {
                built += 1;
                return chainedRows(tail, 1, 0);
              }),
              (e: unknown) => isDkeError(e, 'ERR_STORE_BUSY') && e.status === 503 && !/55P03/.test(e.message),
            );
            assert.ok(performance.now() - started < 5000, 'failed after the lock timeout, not later');
            assert.equal(built, 0, 'build never ran without the lock');
            await holder.query('ROLLBACK');
          });
          assert.equal((await store.auditTail())?.seq, 2);
          await store.appendAuditRows((tail) => chainedRows(tail, 1, 0));
          assert.equal(await checkNoFork(store), 3);
        });
      }),
    );

    void test(
      'a concurrent rotation and destroy: distinct versions, and nothing revives a destroyed key',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const [a, b] = await Promise.all([open(), open()]);
          await a.createKey(
            { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: T0 },
            version('v1'),
          );
          const added = await Promise.all(
            Array.from({ length: 6 }, (_, i) =>
              (i % 2 === 0 ? a : b).addKeyVersion('k', () => version(`r${i}`)),
            ),
          );
          assert.deepEqual(
            added.map((v) => v.version).sort((x, y) => x - y),
            [2, 3, 4, 5, 6, 7],
          );
          assert.equal((await b.getKey('k'))?.activeVersion, 7);
          const results = await Promise.allSettled([
            a.destroyKey('k', T0),
            b.addKeyVersion('k', () => version('late')),
            b.revokeObject('k', 'obj', T0),
          ]);
          assert.equal(results[0].status, 'fulfilled');
          assert.equal((await a.getKey('k'))?.state, 'destroyed');
          for (const v of await b.listKeyVersions('k'))
            assert.equal(v.sealedPrivateKey, null, `version ${v.version}`);
        });
      }),
    );

    void test(
      'audit text with U+0000 and U+FFFF is stored and found verbatim',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const store = await open();
          const odd = ['nul \u0000 end', 'ffff \uffff end', '\uffff0 looks escaped', '\u0000\uffff1\u0000'];
          const written = await store.appendAuditRows((tail) => {
            let last = tail;
            return odd.map((subject) => {
              const row = auditRow(last, { subject, userName: subject, requestId: subject });
              last = { seq: row.seq, hash: row.hash };
              return row;
            });
          });
          assert.deepEqual(await store.queryAuditRows({ limit: 10 }), [...written].reverse());
          for (const [i, subject] of odd.entries()) {
            assert.deepEqual(
              (await store.queryAuditRows({ subject, limit: 10 })).map((r) => r.seq),
              [i + 1],
            );
            assert.deepEqual(
              (await store.findAuditRowsByRequestId(subject, 10)).map((r) => r.seq),
              [i + 1],
            );
          }
          const at = '2025-01-01T00:00:00.000Z';
          await store.recordSecurityEvents(
            [
              {
                windowStart: at,
                clientAddress: '192.0.2.1',
                reason: 'ERR_AUTH_INVALID',
                issuer: 'iss\u0000',
                subject: 'sub\uffff',
                count: 1,
                firstSeen: at,
                lastSeen: at,
              },
            ],
            { maxRows: 10, notBefore: '2000-01-01T00:00:00.000Z' },
          );
          const events = await store.querySecurityEvents({ issuer: 'iss\u0000', limit: 10 });
          assert.equal(events[0]?.subject, 'sub\uffff');
        });
      }),
    );

    void test(
      'getKeyForUse: one round trip; latency',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const store = await open();
          await store.createKey(
            { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: T0 },
            version('v1'),
          );
          await store.revokeObject('k', 'gone', T0);
          const timings: number[] = [];
          for (let i = 0; i < 400; i++) {
            const started = performance.now();
            const use = await store.getKeyForUse('k', 'v1', i % 2 === 0 ? 'gone' : 'kept');
            timings.push(performance.now() - started);
            assert.equal(use?.objectRevoked, i % 2 === 0);
          }
          timings.sort((x, y) => x - y);
          const at = (q: number): string =>
            (timings[Math.floor(q * (timings.length - 1))] as number).toFixed(3);
          console.log(`postgres getKeyForUse latency: median ${at(0.5)} ms, p99 ${at(0.99)} ms`);
          assert.equal((await store.getKeyForUse('k', 'nope'))?.version, undefined);
          assert.equal(await store.getKeyForUse('nope', 'v1'), undefined);
        });
      }),
    );

    void test(
      'destroyKey: no page of key_versions keeps the sealed material, also where a plain VACUUM would',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const noVacuum = await open({ vacuumAfterDestroy: false });
          const marker = Buffer.from(`SEALED-MARKER-${process.pid}-${Date.now()}`.padEnd(48, '.'));
          const versionOf = (keyId: string, jwkLength: number, sealed: Buffer): NewKeyVersion => ({
            keyId,
            spec: 'P-256',
            publicJwk: 'j'.repeat(jwkLength),
            sealedPrivateKey: sealed,
            createdAt: T0,
          });
          const create = (name: string, v: NewKeyVersion): Promise<void> =>
            noVacuum.createKey({ name, protocol: 'native', cacheSeconds: null, createdAt: T0 }, v);
          await withClient(db.url, async (c) => {
            await c.query('CREATE EXTENSION IF NOT EXISTS pageinspect');
            const lastPage = async (): Promise<{ page: number; free: number }> => {
              const r = await c.query<{ page: string; free: string }>(
                `SELECT p AS page, (SELECT upper - lower FROM page_header(get_raw_page('key_versions', p::int))) AS free
                 FROM (SELECT pg_relation_size('key_versions') / current_setting('block_size')::int - 1 AS p) x`,
              );
              return { page: Number(r.rows[0]?.page), free: Number(r.rows[0]?.free) };
            };
            const pageOf = async (keyId: string): Promise<number> => {
              const r = await c.query<{ ctid: string }>(
                'SELECT ctid::text FROM key_versions WHERE key_id = $1',
                [keyId],
              );
              return Number(/^\((\d+),/.exec(r.rows[0]?.ctid ?? '')?.[1]);
            };
            const pagesHolding = async (): Promise<number> => {
              const r = await c.query<{ n: string }>(
                `SELECT count(*) AS n FROM generate_series(0, pg_relation_size('key_versions') / current_setting('block_size')::int - 1) AS p
                 WHERE position($1::bytea IN get_raw_page('key_versions', p::int)) > 0`,
                [marker],
              );
              return Number(r.rows[0]?.n);
            };
            // The worst layout for a plain VACUUM: the secret is the last row of a page it fills, so its
            // destroyed version goes to another page and nothing is moved over its bytes.
            const filler = Buffer.alloc(marker.length, 0x7a);
            await create('f000', versionOf('f-000', 400, filler));
            const blockSize = await c.query<{ size: string }>(`SELECT current_setting('block_size') AS size`);
            const empty = Number(blockSize.rows[0]?.size) - 24; // minus the page header
            const perRow = empty - (await lastPage()).free;
            let n = 1;
            while ((await lastPage()).free >= 2 * perRow) {
              await create(
                `f${String(n).padStart(3, '0')}`,
                versionOf(`f-${String(n).padStart(3, '0')}`, 400, filler),
              );
              n += 1;
            }
            const { page, free } = await lastPage();
            await create('s000', versionOf('s-000', 400 + (free - perRow) - 24, marker));
            assert.equal(await pageOf('s-000'), page, 'the secret is the last row of a full page');
            assert.ok((await lastPage()).free < 64, 'no room left on it');
            assert.equal(await pagesHolding(), 1, 'the check finds the material before the destroy');

            await noVacuum.destroyKey('s000', T0);
            assert.notEqual(await pageOf('s-000'), page, 'the destroyed version went to another page');
            assert.equal((await noVacuum.listKeyVersions('s000'))[0]?.sealedPrivateKey, null);
            assert.equal(await pagesHolding(), 1, 'a dead row version keeps the material until vacuumed');
            await c.query('VACUUM key_versions');
            console.log(
              `postgres: after a plain VACUUM, pages still holding destroyed material: ${await pagesHolding()}`,
            );

            const store = await open();
            await store.destroyKey('s000', T0); // destroying again runs the VACUUM FULL
            assert.equal(await pagesHolding(), 0, 'no page holds the material any more');
            assert.equal((await store.listKeyVersions('f000'))[0]?.sealedPrivateKey?.length, marker.length);
          });
        });
      }),
    );

    void test(
      'an idle connection killed by the server is replaced, reported, and never crashes the process',
      withDatabase(adminUrl, async (db) => {
        const warnings: string[] = [];
        await withStores(db.url, async (open) => {
          const store = await open({
            applicationName: 'opendke-kill-test',
            onWarning: (message, detail) => warnings.push(`${message}: ${detail}`),
          });
          await Promise.all(Array.from({ length: 4 }, () => store.getMeta('x')));
          const killed = await withClient(db.url, async (c) => {
            const result = await c.query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'opendke-kill-test'`,
            );
            return result.rowCount ?? 0;
          });
          assert.ok(killed >= 1, 'idle connections to kill');
          // At once, before the pool has heard of the kills: reads and writes go to live connections.
          assert.deepEqual(
            await Promise.all([store.getMeta('x'), store.setMetaIfAbsent('y', 'v'), store.auditTail()]),
            [undefined, 'v', undefined],
          );
          const deadline = Date.now() + 5000;
          while (warnings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          assert.ok(warnings.length >= 1, 'the dropped connections were reported');
          assert.match(warnings[0] as string, /57P01|terminat/i);
          assert.equal(await store.setMetaIfAbsent('x', 'after'), 'after', 'new connections serve');
          assert.equal(await store.probeHealth(), 'ok');
        });
      }),
    );

    void test(
      'a pool exhausted past connectionTimeoutMs: ERR_STORE_UNAVAILABLE, probeHealth unavailable, then serving again',
      withDatabase(adminUrl, async (db) => {
        await withStores(db.url, async (open) => {
          const store = await open({ maxConnections: 1, connectionTimeoutMs: 300, probeTimeoutMs: 200 });
          await withClient(db.url, async (holder) => {
            await holder.query('BEGIN');
            await holder.query('SELECT * FROM audit_head FOR UPDATE');
            // This append holds the pool's only connection while it waits for the head lock.
            const waiting = store.appendAuditRows((tail) => chainedRows(tail, 1, 0));
            await new Promise((resolve) => setTimeout(resolve, 100));
            await assert.rejects(
              store.getMeta('x'),
              (e: unknown) => isDkeError(e, 'ERR_STORE_UNAVAILABLE') && /timeout/.test(e.detail ?? ''),
            );
            const started = performance.now();
            assert.equal(await store.probeHealth(), 'unavailable');
            assert.ok(performance.now() - started < 1500, 'the probe does not wait long');
            await holder.query('ROLLBACK');
            assert.equal((await waiting).length, 1, 'the waiting append went through once the lock was free');
          });
          assert.equal(await store.probeHealth(), 'ok');
          assert.equal(await store.getMeta('x'), undefined);
        });
      }),
    );

    void test('a server that cannot be reached: ERR_STORE_UNAVAILABLE (503), driver text only in detail', async () => {
      const url = `postgres://nobody@127.0.0.1:${await closedPort()}/nothing`;
      const started = performance.now();
      await assert.rejects(openPostgresStore(url, { connectionTimeoutMs: 1000 }), (e: unknown) => {
        assert.ok(isDkeError(e, 'ERR_STORE_UNAVAILABLE'));
        assert.equal(e.status, 503);
        assert.equal(e.message, 'key store unreachable, retry later');
        assert.match(e.detail ?? '', /ECONNREFUSED/);
        return true;
      });
      assert.ok(performance.now() - started < 10_000);
    });

    void test(
      'password from a file or an environment variable, never needed in the URL',
      withDatabase(adminUrl, async (db) => {
        const parsed = new URL(db.url);
        const password = decodeURIComponent(parsed.password);
        if (password === '') return; // a server without passwords: nothing to check
        parsed.password = '';
        const bare = parsed.toString();
        const { makeTempDir, removeDir } = await import('./temp-dir.js');
        const fs = await import('node:fs');
        const path = await import('node:path');
        const dir = makeTempDir();
        const variable = `DKE_TEST_PG_PASSWORD_${process.pid}`;
        try {
          const file = path.join(dir, 'pg-password');
          fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
          await (await openPostgresStore(bare, { passwordFile: file })).close();
          process.env[variable] = password;
          await (await openPostgresStore(bare, { passwordEnv: variable })).close();
          await assert.rejects(
            openPostgresStore(db.url, { passwordFile: file }),
            (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /one place only/.test(e.message),
          );
          fs.writeFileSync(file, 'wrong-password\n');
          await assert.rejects(
            openPostgresStore(bare, { passwordFile: file }),
            (e: unknown) => isDkeError(e, 'ERR_STORE_UNAVAILABLE') && /28P01|password/.test(e.detail ?? ''),
          );
        } finally {
          delete process.env[variable];
          removeDir(dir);
        }
      }),
    );
  });
});
