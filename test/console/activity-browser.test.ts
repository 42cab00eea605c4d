/**
 * The Activity page in headless Chromium against a real `dke serve` (child process): an auditor sees the
 * uPlot charts (canvas) and the tables with the right numbers, switches ranges, the chart follows the
 * window's width, and the browser reports no CSP violation (uPlot's stylesheet is bundled, its sizes are
 * set through the CSSOM).
 *
 * The current hour's releases and refusals are real: native unwraps and Microsoft DKE decrypts made with
 * development-issuer tokens against the running service. The 22 hours before are history written through
 * the real audit log (StoreAuditLog, so the hash chain and Merkle tree are intact) with its clock set back,
 * before the service starts: a service cannot be made to release in the past, and a chart of one hour
 * would show little.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { StoreAuditLog } from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/service/contracts.js';
import { openSqliteStore } from '../../src/store/index.js';
import { browserSkipReason } from '../support/browser.js';
import { startConsoleService, type ConsoleService } from '../support/console.js';
import {
  launchConsoleBrowser,
  screenshot,
  signOut,
  type ConsoleBrowser,
} from '../support/console-browser.js';
import { validToken } from '../support/issuer.js';
import { msDkeDecrypt, nativeUnwrap } from '../support/releases.js';

const skip = browserSkipReason();
const HOUR = 3_600_000;

let service: ConsoleService;
let browser: ConsoleBrowser;
/** The UTC hour (`YYYY-MM-DD HH`) of the live releases; undefined when they crossed an hour boundary. */
let liveHour: string | undefined;
/** What the page must show: releases and refusals per key and per subject, history and live together. */
const expected = {
  byKey: new Map<string, [number, number]>(),
  bySubject: new Map<string, [number, number]>(),
};

function count(keyName: string, subject: string, release: boolean): void {
  for (const [map, name] of [
    [expected.byKey, keyName],
    [expected.bySubject, subject],
  ] as const) {
    const [releases, refusals] = map.get(name) ?? [0, 0];
    map.set(name, release ? [releases + 1, refusals] : [releases, refusals + 1]);
  }
}

/** A day of history: steady use of finance, a team on legal, Office users, a burst of refusals. */
function history(): { at: number; keyName: string; subject: string; release: boolean }[] {
  const events: { at: number; keyName: string; subject: string; release: boolean }[] = [];
  const now = Date.now();
  for (let k = 22; k >= 1; k -= 1) {
    const hour = now - k * HOUR;
    const add = (keyName: string, subject: string, n: number, release = true): void => {
      for (let i = 0; i < n; i += 1) events.push({ at: hour + i * 60_000, keyName, subject, release });
    };
    add('finance', 'alice', 2 + (k % 4));
    if (k % 3 === 0) add('finance', 'bob', 3);
    if (k >= 8 && k <= 16) add('legal', 'carol', 1 + (k % 2) * 2);
    if (k % 2 === 0) add('office', 'erin', 2);
    if (k === 6 || k === 5) add('finance', 'mallory', 4, false);
    if (k === 12) add('office', 'bob', 2, false);
    // Occasional readers, more than the chart names: they add up under "others".
    add('hr', `user0${k % 7}`, 1);
  }
  return events;
}

async function writeHistory(dbFile: string): Promise<void> {
  const store = openSqliteStore(dbFile);
  let clock = 0;
  const audit = new StoreAuditLog(store, { now: () => new Date(clock) });
  try {
    for (const event of history()) {
      clock = event.at;
      const record: AuditEvent = {
        action: event.keyName === 'office' ? 'ms-dke.decrypt' : 'native.unwrap',
        result: event.release ? 'allowed' : 'denied',
        ...(event.release ? {} : { reason: 'ERR_FORBIDDEN' }),
        issuer: 'https://login.example.test',
        subject: event.subject,
        userName: `${event.subject}@example.test`,
        keyName: event.keyName,
        clientAddress: '192.0.2.10',
      };
      await audit.append(record);
      count(event.keyName, event.subject, event.release);
    }
  } finally {
    await audit.close();
    await store.close();
  }
}

before(async () => {
  if (skip !== undefined) return;
  service = await startConsoleService({
    name: 'activity-e2e',
    childProcess: true,
    userNamesFromUpn: true,
    beforeStart: (dir) => writeHistory(path.join(dir, 'dke.db')),
  });
  browser = await launchConsoleBrowser(service);

  // Keys and policies through the console's API as an admin, then real releases and refusals.
  const admin = await service.signIn('admin');
  const change = (method: string, url: string, body: unknown): Promise<void> =>
    service.change(admin, method, url, body);
  await change('POST', '/keys', { name: 'finance' });
  await change('PUT', '/keys/finance/policy', { users: ['sub:alice', 'sub:bob'] });
  await change('POST', '/keys', { name: 'office', protocol: 'ms-dke' });
  await change('PUT', '/keys/office/policy', { users: ['sub:erin'] });
  for (const name of ['legal', 'hr']) await change('POST', '/keys', { name });
  const token = (sub: string): Promise<string> =>
    validToken(service.issuer, { sub, upn: `${sub}@example.test` });
  const live: [string, string, number][] = [
    ['finance', 'alice', 200],
    ['finance', 'alice', 200],
    ['finance', 'bob', 200],
    ['finance', 'mallory', 403],
    ['office', 'erin', 200],
    ['office', 'erin', 200],
    ['office', 'bob', 403],
  ];
  const hourOf = (): string => new Date().toISOString().slice(0, 13).replace('T', ' ');
  const startHour = hourOf();
  for (const [keyName, subject, status] of live) {
    const release = keyName === 'office' ? msDkeDecrypt : nativeUnwrap;
    assert.equal(await release(service.url, keyName, await token(subject)), status);
    count(keyName, subject, status === 200);
  }
  liveHour = hourOf() === startHour ? startHour : undefined;
});
after(async () => {
  if (skip !== undefined) return;
  await browser.close();
  await service.close();
});

/** The totals table under a chart, as [name, releases, refusals] rows. */
async function totalsTable(page: Page, chart: string): Promise<[string, number, number][]> {
  const rows = page.getByRole('region', { name: chart }).locator('table.activity-totals tbody tr');
  return (await rows.allInnerTexts()).map((text) => {
    const [name = '', releases, refusals] = text.split('\t').map((cell) => cell.trim());
    return [name, Number(releases), Number(refusals)];
  });
}

/** Polls `check` (every 100 ms, up to 10 s) until it holds. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`not within 10 s: ${what}`);
}

/** The expected totals: the top 8 by releases (then refusals, name), the rest summed as "others". */
function expectedTotals(map: Map<string, [number, number]>): [string, number, number][] {
  const ranked = [...map].sort(([a, [ra, fa]], [b, [rb, fb]]) => rb - ra || fb - fa || (a < b ? -1 : 1));
  const named = ranked.slice(0, 8).map(([name, [r, f]]): [string, number, number] => [name, r, f]);
  const rest = ranked.slice(8);
  if (rest.length === 0) return named;
  return [
    ...named,
    ['others', rest.reduce((s, [, [r]]) => s + r, 0), rest.reduce((s, [, [, f]]) => s + f, 0)],
  ];
}

test(
  'auditor: the charts draw on canvas, the tables hold the right numbers, ranges switch',
  { skip },
  async () => {
    const page = await browser.signedInPage('auditor');
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Activity' }).click();
    await page.getByRole('heading', { name: 'Activity', level: 1 }).waitFor();
    const keys = page.getByRole('region', { name: 'Releases per key' });
    const subjects = page.getByRole('region', { name: 'Releases per subject' });
    await keys.locator('canvas').waitFor();
    await subjects.locator('canvas').waitFor();
    assert.equal(await page.getByLabel('Range').inputValue(), '24h');

    const releases = [...expected.byKey.values()].reduce((s, [r]) => s + r, 0);
    const refusals = [...expected.byKey.values()].reduce((s, [, f]) => s + f, 0);
    await page.getByRole('status').getByText(`${releases} releases and ${refusals} refusals`).waitFor();
    assert.deepEqual(await totalsTable(page, 'Releases per key'), expectedTotals(expected.byKey));
    const bySubject = await totalsTable(page, 'Releases per subject');
    assert.deepEqual(bySubject, expectedTotals(expected.bySubject));
    assert.equal(bySubject.at(-1)?.[0], 'others', 'more subjects than the chart names');

    // The chart is labelled for assistive technology; its legend names the refusals series.
    assert.match((await keys.getByRole('img').getAttribute('aria-label')) ?? '', /releases and \d+ refusals/);
    await keys.locator('.u-legend').getByText('Refusals (all)').waitFor();

    // Per hour, behind "Show as table": the current hour's live releases of office are there.
    await keys.getByText('Show as table, per hour').click();
    const perHour = keys.locator('table.activity-buckets');
    await perHour.waitFor();
    if (liveHour !== undefined) {
      const officeLive = perHour
        .locator('tbody tr', { has: page.getByRole('rowheader', { name: 'office', exact: true }) })
        .filter({ hasText: `${liveHour}:00` });
      assert.equal((await officeLive.innerText()).replace(/\s+/g, ' ').trim(), `${liveHour}:00 office 2 1`);
    }
    await keys.getByText('Show as table, per hour').click();
    await screenshot(page, 'activity');

    // The chart follows the window: narrower viewport, narrower canvas.
    const canvasWidth = async (): Promise<number> => (await keys.locator('canvas').boundingBox())?.width ?? 0;
    const wide = await canvasWidth();
    assert.ok(wide > 900, `${wide} px wide at 1366`);
    await page.setViewportSize({ width: 1024, height: 768 });
    await eventually(async () => (await canvasWidth()) < wide - 200, 'the chart narrows with the window');
    await page.setViewportSize({ width: 1366, height: 768 });

    // 30 days: by day, the same totals (all within the last day).
    await page.getByLabel('Range').selectOption('30d');
    await page.getByRole('status').getByText('per day').waitFor();
    assert.deepEqual(await totalsTable(page, 'Releases per key'), expectedTotals(expected.byKey));

    // A custom range with nothing in it, typed in UTC.
    await page.getByLabel('Range').selectOption('custom');
    await page.getByLabel('From (UTC)').fill('2020-01-01T00:00');
    await page.getByLabel('To (UTC)').fill('2020-01-02T00:00');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('status').getByText('0 releases and 0 refusals').waitFor();
    assert.equal(await keys.getByText('No releases or refusals in this range.').count(), 1);
    // One the service refuses (longer than 92 days): its message, as an alert.
    await page.getByLabel('From (UTC)').fill('2020-01-01T00:00');
    await page.getByLabel('To (UTC)').fill('2021-01-01T00:00');
    await page.getByRole('button', { name: 'Show' }).click();
    await page
      .getByRole('alert')
      .getByText(/longer than 92 days/)
      .waitFor();

    await signOut(page);
    await page.close();
    assert.deepEqual(browser.cspViolations, []);
  },
);
