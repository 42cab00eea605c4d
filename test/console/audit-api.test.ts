/**
 * The Audit and Document pages' endpoints over real HTTP: a real service with the console on, the real
 * development issuer for sign-in and for the tokens of real native unwraps. Filters, the paging cursor, the
 * live feed (Server-Sent Events) delivering a new record, who opened an object, refusals (400, 401, 403), and
 * each read audited once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startConsoleService,
  type ConsoleAnswer,
  type ConsoleService,
  type HttpSession,
} from '../support/console.js';
import { openEventStream, type SseReader } from '../support/console-audit.js';
import { validToken } from '../support/issuer.js';
import { unwrapShare, wrapShareFor, type WrappedShare } from '../support/releases.js';

let service: ConsoleService;
let admin: HttpSession;
let auditor: HttpSession;
/** Opened by alice twice, refused to bob once, on key `finance`. */
let opened: WrappedShare;
/** Opened by carol on key `hr`. */
let other: WrappedShare;
let startedAt: string;

const apiCall = (
  session: HttpSession | undefined,
  method: string,
  url: string,
  body?: unknown,
): Promise<ConsoleAnswer<Record<string, unknown>>> => service.call(session, method, url, { body });

/** `share` unwrapped on `keyName` by `userName` (subject `sub-<userName>`); the HTTP status. */
async function unwrapAs(keyName: string, share: WrappedShare, userName: string): Promise<number> {
  const token = await validToken(service.issuer, { sub: `sub-${userName}`, preferred_username: userName });
  return unwrapShare(service.url, keyName, share, token);
}

interface Row {
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly result: string;
  readonly reason?: string;
  readonly subject?: string;
  readonly userName?: string;
  readonly keyName?: string;
  readonly keyVersion?: number;
  readonly objectId?: string;
  readonly clientAddress?: string;
  readonly requestId?: string;
  readonly hash?: string;
}

async function page(
  query: string,
  session = auditor,
): Promise<{ records: Row[]; older?: number; head: number }> {
  const answer = await apiCall(session, 'GET', `/audit${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body as unknown as { records: Row[]; older?: number; head: number };
}

before(async () => {
  service = await startConsoleService({ name: 'audit' });
  startedAt = new Date().toISOString();
  admin = await service.signIn('admin');
  auditor = await service.signIn('auditor');
  for (const [name, user] of [
    ['finance', 'alice@example.test'],
    ['hr', 'carol@example.test'],
  ] as const) {
    const created = await apiCall(admin, 'POST', '/keys', { name, spec: 'P-256', policy: { users: [user] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  opened = await wrapShareFor(service.url, 'finance');
  other = await wrapShareFor(service.url, 'hr');
  assert.equal(await unwrapAs('finance', opened, 'alice@example.test'), 200);
  assert.equal(await unwrapAs('finance', opened, 'bob@example.test'), 403);
  assert.equal(await unwrapAs('finance', opened, 'alice@example.test'), 200);
  assert.equal(await unwrapAs('hr', other, 'carol@example.test'), 200);
});
/** A feed left open: closing the service must end it rather than wait for it. */
let lingering: SseReader | undefined;
after(async () => {
  await service.close();
  if (lingering !== undefined) {
    await assert.rejects(async () => {
      for (;;) await lingering?.next(10_000);
    }, /the stream ended/);
  }
});

test('the audit page reads the log newest first, with every filter, and records each read', async () => {
  const all = await page('');
  assert.ok(all.records.length > 10);
  const seqs = all.records.map((r) => r.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => b - a),
    'newest first',
  );
  assert.ok(all.head >= seqs[0]!);
  assert.equal(all.records[0]?.hash, undefined, 'no chain hashes in the page');

  const unwraps = await page('?action=native.unwrap');
  assert.deepEqual(
    unwraps.records.map((r) => `${r.userName ?? ''} ${r.result} ${r.keyName ?? ''}`),
    [
      'carol@example.test allowed hr',
      'alice@example.test allowed finance',
      'bob@example.test denied finance',
      'alice@example.test allowed finance',
    ],
  );
  const release = unwraps.records[1]!;
  assert.equal(release.objectId, opened.objectId);
  assert.equal(release.keyVersion, 1);
  assert.equal(release.clientAddress, '127.0.0.1');
  assert.ok(release.requestId !== undefined);

  const denied = await page('?result=denied');
  assert.deepEqual(
    denied.records.map((r) => [r.action, r.userName, r.reason]),
    [['native.unwrap', 'bob@example.test', 'ERR_FORBIDDEN']],
  );
  const byKey = await page('?key=hr');
  assert.ok(byKey.records.length > 0 && byKey.records.every((r) => r.keyName === 'hr'));
  const byObject = await page(`?object=${opened.objectId}`);
  assert.ok(byObject.records.length >= 3 && byObject.records.every((r) => r.objectId === opened.objectId));
  // subject: the token subject or the user name, case-insensitively.
  const bySubject = await page('?subject=ALICE@example.test');
  assert.deepEqual(
    bySubject.records.map((r) => r.subject),
    ['sub-alice@example.test', 'sub-alice@example.test'],
  );
  assert.equal((await page('?subject=sub-carol@example.test')).records.length, 1);
  // Time: since inclusive, until exclusive; a record's own time bounds it exactly.
  const first = unwraps.records[3]!;
  const at = encodeURIComponent(first.time);
  assert.ok((await page(`?action=native.unwrap&since=${at}`)).records.some((r) => r.seq === first.seq));
  assert.ok(!(await page(`?action=native.unwrap&until=${at}`)).records.some((r) => r.seq === first.seq));
  assert.deepEqual((await page(`?until=${encodeURIComponent(startedAt)}&key=finance`)).records, []);
  assert.equal((await page('?since=2999-01-01')).records.length, 0);
  assert.ok((await page(`?since=${startedAt.slice(0, 10)}&result=allowed&key=finance`)).records.length > 0);

  // Each read is recorded once (allowed, then ok), as the auditor, naming the filtered key or object.
  const reads = (await service.auditRecords()).filter((r) => r.action === 'console.audit.query');
  const byHr = reads.filter((r) => r.keyName === 'hr');
  assert.deepEqual(
    byHr.map((r) => r.result),
    ['allowed', 'ok'],
  );
  assert.equal(byHr[0]?.userName, 'audrey@example.test');
  assert.equal(byHr[0]?.subject, 'audrey');
  assert.ok(reads.some((r) => r.objectId === opened.objectId));
});

test('paging back with the seq cursor: pages follow one another without gaps or repeats', async () => {
  const everything = await page('?limit=200&until=2999-01-01');
  assert.equal(everything.older, undefined, 'one page holds it all');
  const wanted = everything.records.map((r) => r.seq);
  const got: number[] = [];
  let cursor: number | undefined;
  let pages = 0;
  do {
    // The same filter (until) keeps the console's own read records out of the later pages.
    const next = await page(`?limit=3&until=2999-01-01${cursor === undefined ? '' : `&before=${cursor}`}`);
    assert.ok(next.records.length <= 3);
    got.push(...next.records.map((r) => r.seq));
    cursor = next.older;
    if (cursor !== undefined) assert.equal(cursor, next.records[2]?.seq);
    pages += 1;
  } while (cursor !== undefined && pages < 100);
  // Reads made while paging are newer than the first page, so they do not show up in later ones.
  assert.deepEqual(
    got.filter((seq) => seq <= wanted[0]!),
    wanted,
  );
  assert.deepEqual((await page('?before=1')).records, []);
});

test("reads=hide leaves out the console's page reads, and only them", async () => {
  // Reads of every kind first: key listings (admin.key.list), audit queries, a document look-up.
  assert.equal((await apiCall(admin, 'GET', '/keys')).status, 200);
  assert.equal((await apiCall(auditor, 'GET', `/documents/${opened.objectId}`)).status, 200);
  const all = (await page('?limit=200')).records;
  const hidden = (await page('?limit=200&reads=hide')).records;
  const made = ['admin.key.list', 'console.audit.query', 'console.document.query'];
  // Every GET route's action of the console (docs/console.md, the API table).
  const reads = new Set([
    ...made,
    'console.audit.live',
    'console.integrity.get',
    'console.report.download',
    'console.activity.get',
    'console.status.get',
  ]);
  for (const action of made)
    assert.ok(
      all.some((r) => r.action === action),
      `${action} is in the log`,
    );
  assert.deepEqual(
    hidden.map((r) => r.action).filter((action) => reads.has(action)),
    [],
  );
  // Everything else is still there: releases, refusals, key changes and sign-ins.
  const kept = (records: readonly Row[]) =>
    records.filter((r) => !reads.has(r.action) && r.seq <= hidden[0]!.seq).map((r) => r.seq);
  assert.deepEqual(
    hidden.map((r) => r.seq),
    kept(all),
  );
  for (const action of ['native.unwrap', 'admin.key.create', 'console.signin'])
    assert.ok(
      hidden.some((r) => r.action === action),
      `${action} is kept`,
    );
});

test('bad queries are 400 with ERR_BAD_REQUEST and a message, never a stack', async () => {
  for (const query of [
    '?limit=201',
    '?limit=0',
    '?limit=ten',
    '?result=maybe',
    '?key=..%2Fadmin',
    '?object=a%20b',
    '?since=yesterday',
    '?since=2025-02-30T00:00Z',
    '?until=2025-13-01',
    '?since=2025-01-01T25:00',
    '?since=2025-01-02&until=2025-01-01',
    '?since=2025-01-01&until=2025-01-01',
    '?before=-1',
    '?before=99999999999999999',
    '?sort=asc',
    '?reads=show',
    '?reads=',
    `?subject=${'x'.repeat(513)}`,
  ]) {
    const answer = await apiCall(auditor, 'GET', `/audit${query}`);
    assert.equal(answer.status, 400, `${query}: ${JSON.stringify(answer.body).slice(0, 200)}`);
    assert.equal(answer.body.error, 'ERR_BAD_REQUEST', query);
    assert.equal(typeof answer.body.message, 'string');
    assert.doesNotMatch(JSON.stringify(answer.body), /at .*\.js/);
  }
  for (const id of ['short', 'AAAAAAAAAAAAAAAAAAAAAB', `${opened.objectId}A`, 'AAAAAAAAAAAAAAAAAAAA+A']) {
    const answer = await apiCall(auditor, 'GET', `/documents/${encodeURIComponent(id)}`);
    assert.equal(answer.status, 400, id);
    assert.equal(answer.body.error, 'ERR_BAD_REQUEST');
  }
  const live = await apiCall(auditor, 'GET', '/audit/live?after=x');
  assert.equal(live.status, 400);
});

test('not signed in: 401; signed in without a role: 403, audited as denied', async () => {
  for (const url of ['/audit', '/audit/live', `/documents/${opened.objectId}`]) {
    const answer = await apiCall(undefined, 'GET', url);
    assert.equal(answer.status, 401, url);
    assert.equal(answer.body.error, 'ERR_CONSOLE_SIGNIN_REQUIRED');
  }
  const nobody = await service.signIn('nobody');
  for (const url of ['/audit?key=finance', '/audit/live', `/documents/${opened.objectId}`]) {
    const answer = await apiCall(nobody, 'GET', url);
    assert.equal(answer.status, 403, url);
    assert.equal(answer.body.error, 'ERR_CONSOLE_ROLE_REQUIRED');
  }
  const denied = (await service.auditRecords()).filter((r) => r.subject === 'nemo' && r.result === 'denied');
  assert.deepEqual(denied.map((r) => r.action).sort(), [
    'console.audit.live',
    'console.audit.query',
    'console.document.query',
  ]);
  assert.ok(denied.some((r) => r.action === 'console.document.query' && r.objectId === opened.objectId));
});

test('the live feed sends the records after its cursor that match its filters, and is audited once', async () => {
  const before = (await service.auditRecords()).filter((r) => r.action === 'console.audit.live').length;
  const feed = await openEventStream(
    `${service.url}/console/api/audit/live?action=native.unwrap&key=finance`,
    {
      cookie: auditor.cookie,
    },
  );
  try {
    assert.equal(feed.status, 200);
    assert.match(feed.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(feed.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const ready = await feed.next();
    assert.equal(ready.event, 'ready');
    const { after: cursor } = JSON.parse(ready.data) as { after: number };
    assert.equal(ready.id, String(cursor));

    // A release on the other key does not match; the one on finance does.
    assert.equal(await unwrapAs('hr', other, 'carol@example.test'), 200);
    assert.equal(await unwrapAs('finance', opened, 'alice@example.test'), 200);
    const event = await feed.next();
    assert.equal(event.event, 'records');
    const { records } = JSON.parse(event.data) as { records: Row[] };
    assert.equal(records.length, 1, event.data);
    assert.equal(records[0]?.userName, 'alice@example.test');
    assert.equal(records[0]?.objectId, opened.objectId);
    assert.ok(records[0].seq > cursor);
    assert.equal(event.id, String(records[0].seq));
  } finally {
    feed.close();
  }
  // Opening was recorded once (allowed, then ok); the second-by-second reads were not.
  const opens = (await service.auditRecords()).filter((r) => r.action === 'console.audit.live');
  assert.deepEqual(
    opens.slice(before).map((r) => `${r.result} ${r.keyName ?? ''}`),
    ['allowed finance', 'ok finance'],
  );

  // Resuming from a cursor: the records after it, oldest first, start the feed.
  const resumed = await openEventStream(
    `${service.url}/console/api/audit/live?action=native.unwrap&after=0`,
    {
      cookie: auditor.cookie,
    },
  );
  try {
    assert.equal((await resumed.next()).event, 'ready');
    const first = await resumed.next();
    const rows = (JSON.parse(first.data) as { records: Row[] }).records;
    assert.ok(rows.length >= 6, first.data);
    assert.deepEqual(
      rows.map((r) => r.seq),
      rows.map((r) => r.seq).sort((a, b) => a - b),
    );
  } finally {
    resumed.close();
  }
  lingering = await openEventStream(`${service.url}/console/api/audit/live`, { cookie: auditor.cookie });
  assert.equal((await lingering.next()).event, 'ready');
});

test('one user has at most 5 live feeds: a sixth ends their oldest with event replaced', async () => {
  const url = `${service.url}/console/api/audit/live?key=hr`;
  const feeds = [];
  try {
    for (let i = 0; i < 6; i += 1) {
      const feed = await openEventStream(url, { cookie: admin.cookie });
      assert.equal((await feed.next()).event, 'ready');
      feeds.push(feed);
    }
    const oldest = feeds[0]!;
    assert.equal((await oldest.next()).event, 'replaced');
    await assert.rejects(() => oldest.next(), /the stream ended/);
    // The other five are still open: a release on hr reaches the newest and the second oldest.
    assert.equal(await unwrapAs('hr', other, 'carol@example.test'), 200);
    for (const feed of [feeds[1]!, feeds[5]!]) {
      // Opening the later feeds (audited on key hr) may come first; the release follows.
      let seen = '';
      while (!seen.includes('"native.unwrap"')) {
        const event = await feed.next();
        assert.equal(event.event, 'records', event.data);
        seen = event.data;
      }
    }
    // Another user's feeds do not count against this one's.
    const auditors = await openEventStream(url, { cookie: auditor.cookie });
    assert.equal((await auditors.next()).event, 'ready');
    auditors.close();
  } finally {
    for (const feed of feeds) feed.close();
  }
});

test('who opened a document: releases, refusals, revocation per key; audited on the object', async () => {
  const revoke = await apiCall(admin, 'PUT', `/keys/finance/revocations/${opened.objectId}`);
  assert.equal(revoke.status, 200);
  const answer = await apiCall(auditor, 'GET', `/documents/${opened.objectId}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const view = answer.body as unknown as {
    objectId: string;
    releases: Row[];
    refusals: Row[];
    other: Row[];
    keys: { keyName: string; revoked: boolean }[];
    truncated: boolean;
  };
  assert.equal(view.objectId, opened.objectId);
  assert.ok(view.releases.length >= 2);
  assert.ok(view.releases.every((r) => r.userName === 'alice@example.test' && r.keyName === 'finance'));
  assert.ok(view.releases.every((r) => r.action === 'native.unwrap' && r.result === 'allowed'));
  assert.deepEqual(
    view.refusals.map((r) => [r.userName, r.reason]),
    [['bob@example.test', 'ERR_FORBIDDEN']],
  );
  assert.ok(view.other.some((r) => r.action === 'admin.object.revoke' && r.result === 'ok'));
  assert.ok(!view.other.some((r) => r.action.startsWith('console.')), 'console look-ups left out');
  assert.deepEqual(view.keys, [{ keyName: 'finance', revoked: true }]);
  assert.equal(view.truncated, false);

  // An object nobody opened: empty lists, not an error.
  const unknown = await apiCall(auditor, 'GET', '/documents/AAAAAAAAAAAAAAAAAAAAAA');
  assert.equal(unknown.status, 200);
  assert.deepEqual(unknown.body.releases, []);

  const lookups = (await service.auditRecords()).filter((r) => r.action === 'console.document.query');
  assert.ok(
    lookups.some((r) => r.objectId === opened.objectId && r.result === 'ok' && r.subject === 'audrey'),
  );
});
