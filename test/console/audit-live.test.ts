/**
 * The live audit feed's bounds (src/console/audit-live.ts) on a real Fastify server and a real SQLite store,
 * with small limits: one feed per user (a second one replaces the first, which is told so), two in the
 * process (a third user is refused 503 ERR_CONSOLE_BUSY until one closes), and records appended to the store
 * reach the open feeds that match.
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
import { auditRow } from '../store/store-suite.js';
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
  app.get<{ Params: { user: string } }>('/feed/:user', (request, reply) =>
    open(request, reply, { keyName: 'finance' }, 0, request.params.user, Date.now() / 1000 + 3600),
  );
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

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
    const deadline = Date.now() + 5000;
    let carolIn: SseReader | undefined;
    while (carolIn === undefined && Date.now() < deadline) {
      const attempt = await openFeed('carol');
      if (attempt.status === 200) carolIn = attempt;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(carolIn !== undefined, 'a place freed by a closed feed is taken');
    assert.equal((await carolIn.next()).event, 'ready');
  } finally {
    for (const feed of feeds) feed.close();
  }
});
