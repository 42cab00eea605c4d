/**
 * The Activity endpoint over real HTTP: real native unwraps and Microsoft DKE decrypts (allowed and refused
 * by policy) made with development-issuer tokens against the running service, then counted per key and
 * per subject by GET /console/api/activity; strict ranges (400), roles (403), and the read audited.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startConsoleService, type ConsoleService, type HttpSession } from '../support/console.js';
import { validToken } from '../support/issuer.js';
import { msDkeDecrypt, nativeUnwrap } from '../support/releases.js';

interface Series {
  readonly name: string | null;
  readonly releases: number[];
  readonly refusals: number[];
  readonly totalReleases: number;
  readonly totalRefusals: number;
}
interface Activity {
  readonly since: string;
  readonly until: string;
  readonly bucket: string;
  readonly buckets: string[];
  readonly byKey: Series[];
  readonly bySubject: Series[];
}

let service: ConsoleService;
let admin: HttpSession;
let auditor: HttpSession;
/** The UTC day (YYYY-MM-DD) the releases began on. */
let releasesDay: string;

const get = (session: HttpSession | undefined, query: string) =>
  service.call<unknown>(session, 'GET', `/activity${query}`);

const totals = (series: Series[]): Record<string, [number, number]> =>
  Object.fromEntries(series.map((s) => [s.name ?? '(others)', [s.totalReleases, s.totalRefusals]]));

before(async () => {
  service = await startConsoleService({ name: 'activity', userNamesFromUpn: true });
  admin = await service.signIn('admin');
  auditor = await service.signIn('auditor');
  await service.change(admin, 'POST', '/keys', { name: 'finance', protocol: 'native' });
  await service.change(admin, 'PUT', '/keys/finance/policy', { users: ['sub:alice', 'sub:bob'] });
  await service.change(admin, 'POST', '/keys', { name: 'office', protocol: 'ms-dke' });
  await service.change(admin, 'PUT', '/keys/office/policy', { users: ['sub:alice'] });

  const token = (sub: string): Promise<string> =>
    validToken(service.issuer, { sub, upn: `${sub}@example.test` });
  const [alice, bob, carol] = await Promise.all([token('alice'), token('bob'), token('carol')]);
  const made: (readonly [() => Promise<number>, number])[] = [
    ...Array.from({ length: 3 }, () => [() => nativeUnwrap(service.url, 'finance', alice), 200] as const),
    ...Array.from({ length: 2 }, () => [() => nativeUnwrap(service.url, 'finance', bob), 200] as const),
    [() => nativeUnwrap(service.url, 'finance', carol), 403],
    ...Array.from({ length: 2 }, () => [() => msDkeDecrypt(service.url, 'office', alice), 200] as const),
    [() => msDkeDecrypt(service.url, 'office', bob), 403],
  ];
  releasesDay = new Date().toISOString().slice(0, 10);
  for (const [release, status] of made) assert.equal(await release(), status);
});
after(() => service.close());

test('activity counts the releases and refusals made against the service, per key and per subject', async () => {
  const answer = await get(auditor, '');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const activity = answer.body as Activity;
  // Default: the last 24 hours, hourly, aligned to whole hours.
  assert.equal(activity.bucket, 'hour');
  assert.ok(activity.buckets.length === 24 || activity.buckets.length === 25, `${activity.buckets.length}`);
  assert.equal(activity.buckets[0], activity.since);
  assert.match(activity.since, /T\d\d:00:00\.000Z$/);
  assert.ok(Date.parse(activity.until) >= Date.now() - 60_000);
  assert.deepEqual(totals(activity.byKey), { finance: [5, 1], office: [2, 1] });
  assert.deepEqual(totals(activity.bySubject), { alice: [5, 0], bob: [2, 1], carol: [0, 1] });
  for (const series of [...activity.byKey, ...activity.bySubject]) {
    assert.equal(series.releases.length, activity.buckets.length);
    assert.equal(
      series.releases.reduce((a, b) => a + b, 0),
      series.totalReleases,
    );
  }
  // The releases happened in the newest bucket (or the one before, across an hour boundary).
  const finance = activity.byKey.find((s) => s.name === 'finance');
  assert.equal((finance?.releases.at(-1) ?? 0) + (finance?.releases.at(-2) ?? 0), 5);

  // An explicit range, by day (two days: the releases may have crossed midnight): the same totals; an
  // admin may read it too.
  const dayMs = 86_400_000;
  const start = Date.parse(`${releasesDay}T00:00:00Z`);
  const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  const daily = await get(
    admin,
    `?since=${releasesDay}T00:00Z&until=${isoDay(start + 2 * dayMs)}T00:00:00.000Z&bucket=day`,
  );
  assert.equal(daily.status, 200);
  const byDay = daily.body as Activity;
  assert.deepEqual(byDay.buckets, [new Date(start).toISOString(), new Date(start + dayMs).toISOString()]);
  assert.deepEqual(totals(byDay.byKey), { finance: [5, 1], office: [2, 1] });

  // The day before had nothing.
  const empty = (await get(auditor, `?since=${isoDay(start - dayMs)}T00:00Z&until=${releasesDay}T00:00Z`))
    .body as Activity;
  assert.deepEqual(empty.byKey, []);
  assert.equal(empty.buckets.length, 24);
});

test('the read is audited as console.activity.get with the console user', async () => {
  const before = (await service.auditRecords()).length;
  assert.equal((await get(auditor, '?bucket=hour')).status, 200);
  const records = (await service.auditRecords()).slice(before);
  assert.deepEqual(
    records.map((r) => [r.action, r.result, r.subject]),
    [
      ['console.activity.get', 'allowed', 'audrey'],
      ['console.activity.get', 'ok', 'audrey'],
    ],
  );
});

test('bad ranges are 400 ERR_BAD_REQUEST, unknown parameters too', async () => {
  for (const query of [
    '?since=yesterday',
    '?since=2026-02-30T00:00Z',
    '?since=2026-01-02T00:00Z&until=2026-01-01T00:00Z',
    '?since=2026-01-01T00:00Z&until=2026-01-01T00:00Z',
    '?since=2025-01-01T00:00Z&until=2026-01-01T00:00Z',
    '?since=2026-01-01T00:00Z&until=2026-03-01T00:00Z&bucket=hour',
    '?bucket=week',
    '?limit=5',
    `?since=${'2026-01-01T00:00:00.000'.padEnd(40, '0')}Z`,
  ]) {
    const answer = await get(auditor, query);
    assert.equal(answer.status, 400, query);
    assert.equal((answer.body as { error: string }).error, 'ERR_BAD_REQUEST', query);
  }
  // 92 days by day is the longest range.
  const longest = await get(auditor, '?since=2026-01-01T00:00Z&until=2026-04-03T00:00Z');
  assert.equal(longest.status, 200);
  assert.equal((longest.body as Activity).bucket, 'day');
  assert.equal((longest.body as Activity).buckets.length, 92);
});

test('no session is 401; a user without a role is 403 and audited as denied', async () => {
  assert.equal((await get(undefined, '')).status, 401);
  const nobody = await service.signIn('nobody');
  const answer = await get(nobody, '');
  assert.equal(answer.status, 403);
  assert.equal((answer.body as { error: string }).error, 'ERR_CONSOLE_ROLE_REQUIRED');
  const denied = (await service.auditRecords()).filter((r) => r.subject === 'nemo' && r.result === 'denied');
  assert.deepEqual(
    denied.map((r) => [r.action, r.reason]),
    [['console.activity.get', 'ERR_CONSOLE_ROLE_REQUIRED']],
  );
});
