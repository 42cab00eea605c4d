/**
 * The Incident report download over real HTTP (docs/console.md, "Incident report"): HTML and JSON built
 * like `dke audit report` (integrity statement first), as attachments with the right names, the window and
 * filters checked strictly, one report at a time, no role 403, every download audited.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncidentReport } from '../../src/report/index.js';
import { startConsoleService, type ConsoleService, type HttpSession } from '../support/console.js';

let service: ConsoleService;
let auditor: HttpSession;
let since: string;

before(async () => {
  service = await startConsoleService({ name: 'report' });
  since = new Date(Date.now() - 60_000).toISOString();
  // Something to report: an admin creates a key; an auditor's attempt to change it is refused.
  const admin = await service.signIn('admin');
  const created = await service.call(admin, 'POST', '/keys', { body: { name: 'finance' } });
  assert.equal(created.status, 201);
  auditor = await service.signIn('auditor');
  const refused = await service.call(auditor, 'POST', '/keys/finance/disable');
  assert.equal(refused.status, 403);
});
after(() => service.close());

function download(session: HttpSession, query: Record<string, string>): Promise<Response> {
  return fetch(`${service.url}/console/api/report?${new URLSearchParams(query).toString()}`, {
    headers: { cookie: session.cookie },
  });
}

const stamp = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');

test('JSON: the report of the window, headed by the verified log, as an attachment', async () => {
  const until = new Date(Date.now() + 60_000).toISOString();
  const answer = await download(auditor, { since, until, format: 'json', timezone: 'Europe/Berlin' });
  assert.equal(answer.status, 200, await answer.clone().text());
  assert.equal(answer.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(
    answer.headers.get('content-disposition'),
    `attachment; filename="opendke-report-${stamp(since)}-${stamp(until)}.json"`,
  );
  const report = (await answer.json()) as IncidentReport;
  assert.equal(report.schema, 'opendke.incident-report');
  assert.deepEqual(report.filter, {
    since,
    until,
    keyName: null,
    objectId: null,
    subject: null,
    timezone: 'Europe/Berlin',
  });
  assert.equal(report.integrity.verified, true);
  assert.ok(report.integrity.size > 0);
  assert.ok(report.totals.records > 0);
  assert.ok(report.adminChanges.some((c) => c.action === 'admin.key.create' && c.keyName === 'finance'));
  assert.ok(
    report.refusals.some((r) => r.subject === 'audrey' && r.reason === 'ERR_ADMIN_REQUIRED'),
    JSON.stringify(report.refusals),
  );
});

test('HTML with a key filter: the same report as a page, the filter in its scope', async () => {
  const until = new Date(Date.now() + 60_000).toISOString();
  const answer = await download(auditor, { since, until, format: 'html', key: 'finance' });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(
    answer.headers.get('content-disposition') ?? '',
    /^attachment; filename="opendke-report-\d{8}T\d{6}Z-\d{8}T\d{6}Z\.html"$/,
  );
  const html = await answer.text();
  assert.match(html, /<h1>Incident report<\/h1>/);
  assert.match(html, /VERIFIED: log verified up to size \d+/);
  assert.match(html, /key finance/);
  assert.match(html, /admin\.key\.create/);
});

test('a date without a time is UTC midnight', async () => {
  const today = new Date().toISOString().slice(0, 10);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const answer = await download(auditor, { since: today, until: tomorrow, format: 'json' });
  assert.equal(answer.status, 200);
  const report = (await answer.json()) as IncidentReport;
  assert.equal(report.filter.since, `${today}T00:00:00.000Z`);
});

test('bad windows and filters are 400 ERR_BAD_REQUEST, with nothing built', async () => {
  const now = Date.now();
  const iso = (offsetMs: number): string => new Date(now + offsetMs).toISOString();
  for (const [query, message] of [
    [{ since: iso(0), until: iso(0), format: 'json' }, /since must be before until/],
    [{ since: iso(0), until: iso(-1000), format: 'json' }, /since must be before until/],
    [{ since: iso(-400 * 86_400_000), until: iso(0), format: 'json' }, /longer than 366 days/],
    [{ since: iso(-1000), until: iso(0), format: 'json', timezone: 'Mars/Olympus' }, /unknown time zone/],
    [{ since: '2026-02-30', until: iso(0), format: 'json' }, /since/],
    [{ since: '2026-12-01T10:00', until: iso(0), format: 'json' }, /since/],
    [{ since: iso(-1000), until: iso(0), format: 'pdf' }, /format/],
    [{ since: iso(-1000), until: iso(0) }, /format/],
    [{ since: iso(-1000), until: iso(0), format: 'json', key: '../x' }, /key/],
    [{ since: iso(-1000), until: iso(0), format: 'json', subject: '' }, /subject/],
    [{ since: iso(-1000), until: iso(0), format: 'json', limit: '5' }, /not allowed/],
  ] as const) {
    const answer = await download(auditor, query);
    const body = (await answer.json()) as { error: string; message: string };
    assert.equal(answer.status, 400, JSON.stringify(query));
    assert.equal(body.error, 'ERR_BAD_REQUEST', JSON.stringify(query));
    assert.match(body.message, message, JSON.stringify(query));
  }
});

test('no role: 403, and the refusal is audited; downloads are audited', async () => {
  const nobody = await service.signIn('nobody');
  const answer = await download(nobody, { since, until: new Date().toISOString(), format: 'json' });
  assert.equal(answer.status, 403);
  assert.equal(((await answer.json()) as { error: string }).error, 'ERR_CONSOLE_ROLE_REQUIRED');
  const records = await service.auditRecords();
  const downloads = records.filter((r) => r.action === 'console.report.download');
  assert.ok(downloads.some((r) => r.subject === 'nemo' && r.result === 'denied'));
  assert.ok(downloads.some((r) => r.subject === 'audrey' && r.result === 'ok' && r.keyName === 'finance'));
});
