/**
 * The live audit feed's bounds (src/console/audit-live.ts) on a real Fastify server and a real SQLite store,
 * with small limits: one feed per user (a second one replaces the first, which is told so), two in the
 * process (a third user is refused 503 ERR_CONSOLE_BUSY until one closes), and records appended to the store
 * reach the open feeds that match; a feed ends when its session does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { isDkeError, ERRORS } from '../../src/errors/index.js';
import { openAuditLiveFeed } from '../../src/console/audit-live.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/index.js';
import { auditRow } from '../store/audit-rows.js';
import { openEventStream, type SseReader } from '../support/console-audit.js';

let dir: string;
let store: SqliteStore;
let app: FastifyInstance;
let base: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'opendke-live-feed-'));
  store = openSqliteStore(path.join(dir, 'dke.db'));
  app = Fastify();
  app.setErrorHandler((error, _request, reply) => {
    const code = isDkeError(error) ? error.code : 'ERR_INTERNAL';
    return reply.code(ERRORS[code].status).send({ error: code });
  });
  const open = openAuditLiveFeed(app, store, { pollMs: 50, heartbeatMs: 10_000, perUser: 1, total: 2 });
  // `?expiresIn=<ms>`: the session ends that soon (default an hour).
  app.get<{ Params: { user: string }; Querystring: { expiresIn?: string } }>(
    '/feed/:user',
    (request, reply) => {
      const expiresIn = Number(request.query.expiresIn ?? 3_600_000);
      return open(
        request,
        reply,
        { keyName: 'finance' },
        0,
        request.params.user,
        (Date.now() + expiresIn) / 1000,
      );
    },
  );
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A feed for `path`, once the server has a place for it (closed feeds free theirs when it sees them go). */
async function openWhenFree(path: string): Promise<SseReader> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const feed = await openEventStream(`${base}${path}`, {});
    if (feed.status === 200) return feed;
    feed.close();
    if (Date.now() > deadline) throw new Error(`${path}: still ${feed.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function append(keyName: string): Promise<void> {
  await store.appendAuditRows((tail) => [auditRow(tail, { keyName })]);
}

test('one feed per user, two in all: a second of the same user replaces, a third user waits', async () => {
  const feeds: SseReader[] = [];
  const openFeed = async (user: string): Promise<SseReader> => {
    const feed = await openEventStream(`${base}/feed/${user}`, {});
    feeds.push(feed);
    return feed;
  };
  try {
    const alice = await openFeed('alice');
    assert.equal((await alice.next()).event, 'ready');
    const bob = await openFeed('bob');
    assert.equal((await bob.next()).event, 'ready');

    // A third user: refused while two are open, nothing opened for them.
    const carol = await fetch(`${base}/feed/carol`);
    assert.equal(carol.status, 503);
    assert.deepEqual(await carol.json(), { error: 'ERR_CONSOLE_BUSY' });
    assert.equal((await openFeed('carol')).status, 503, 'refused again while both stay open');

    // alice again: her first feed is told it was replaced and ends; the total stays two.
    const aliceAgain = await openFeed('alice');
    assert.equal((await alice.next()).event, 'replaced');
    assert.equal((await aliceAgain.next()).event, 'ready');

    // What matches the filter reaches the open feeds; what does not, does not.
    await append('legal');
    await append('finance');
    for (const feed of [bob, aliceAgain]) {
      const event = await feed.next();
      assert.equal(event.event, 'records');
      const { records } = JSON.parse(event.data) as { records: { seq: number; keyName: string }[] };
      assert.deepEqual(
        records.map((r) => [r.seq, r.keyName]),
        [[2, 'finance']],
      );
    }

    // bob leaves: carol gets in (once the server has seen bob's connection close).
    bob.close();
    const carolIn = await openWhenFree('/feed/carol');
    feeds.push(carolIn);
    assert.equal((await carolIn.next()).event, 'ready');
  } finally {
    for (const feed of feeds) feed.close();
  }
});

test('a feed ends with event expired when its session expires, and the stream closes', async () => {
  const feed = await openWhenFree('/feed/dave?expiresIn=300');
  try {
    assert.equal((await feed.next()).event, 'ready');
    const started = Date.now();
    let event = await feed.next(5000);
    while (event.event === 'records') event = await feed.next(5000); // the earlier test's finance record
    assert.equal(event.event, 'expired');
    assert.ok(Date.now() - started < 3000, 'ended at the expiry, not at some later timeout');
    await assert.rejects(feed.next(2000), /the stream ended/);
  } finally {
    feed.close();
  }
});
