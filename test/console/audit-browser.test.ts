/**
 * The Audit and Document pages end to end in headless Chromium against a real `dke serve` (child process),
 * the real development issuer, and a file really encrypted and decrypted with the dke CLI against the
 * service (so the log holds a release and a refusal of its object). The auditor sees the records, filters,
 * pages back, sees a new record arrive live (and not while paused), follows an object id to the Document page,
 * and reads a file's object id locally by choosing the file (nothing is uploaded).
 *
 * DKE_CONSOLE_SCREENSHOTS=1 saves docs/console/audit.png and docs/console/document.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page, Request } from 'playwright-core';
import { browserSkipReason } from '../support/browser.js';
import {
  launchConsoleBrowser,
  screenshot,
  signOut,
  type ConsoleBrowser,
} from '../support/console-browser.js';
import { startConsoleService, type ConsoleService, type HttpSession } from '../support/console.js';
import { encryptForService } from '../support/service-file.js';

const skip = browserSkipReason();

let service: ConsoleService;
let browser: ConsoleBrowser;
let admin: HttpSession;
/** The encrypted file and its object id (from `dke inspect`). */
let encrypted: string;
let objectId: string;

/** A change through the console's admin API (over HTTP, as the admin), to make records happen. */
async function adminCall(method: string, url: string, body?: unknown): Promise<number> {
  return (await service.call(admin, method, url, { body })).status;
}

before(async () => {
  if (skip !== undefined) return;
  service = await startConsoleService({ name: 'audit-e2e', childProcess: true });
  admin = await service.signIn('admin');
  assert.equal(
    await adminCall('POST', '/keys', {
      name: 'finance',
      spec: 'P-256',
      policy: { users: ['alice@example.test'] },
    }),
    201,
  );
  // A file encrypted to a local provider key and the service's `finance` key, opened by alice, refused to bob.
  const file = await encryptForService(service.dir, service.url, 'finance', service.issuer);
  ({ encrypted, objectId } = file);
  assert.equal(await file.decryptAs('alice@example.test'), 0);
  assert.notEqual(await file.decryptAs('bob@example.test'), 0);
  // Enough records for more than one page (50 a page): each key listing is recorded twice.
  for (let i = 0; i < 30; i += 1) assert.equal(await adminCall('GET', '/keys'), 200);
  browser = await launchConsoleBrowser(service);
});
after(async () => {
  if (skip !== undefined) return;
  await browser?.close();
  await service.close();
});

const rows = (page: Page) => page.locator('table.records tbody tr');

/** Waits until the records table has exactly (`===`) or more than (`>`) `count` rows. */
async function rowCountIs(page: Page, op: '===' | '>', count: number): Promise<void> {
  // Polled from here: the console's CSP (rightly) refuses waitForFunction's evaluated strings.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const shown = await rows(page).count();
    if (op === '===' ? shown === count : shown > count) return;
    if (Date.now() > deadline) throw new Error(`${shown} rows, expected ${op} ${count}`);
    await page.waitForTimeout(100);
  }
}

test(
  'auditor: the audit log with filters, older pages, live records (and none while paused)',
  { skip },
  async () => {
    const page = await browser.signedInPage('auditor');
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    await page.getByRole('status').getByText('Live: new records appear at the top').waitFor();
    assert.equal(await rows(page).count(), 50);

    // Older records: the next page is appended below, without repeating a row.
    await page.getByRole('button', { name: 'Older records' }).click();
    await rowCountIs(page, '>', 50);
    // Read in one go: live records (this page's own reads among them) may be prepended at any moment.
    const seqs = await rows(page).evaluateAll((trs: { getAttribute(name: string): string | null }[]) =>
      trs.map((tr) => Number(tr.getAttribute('data-seq'))),
    );
    assert.equal(new Set(seqs).size, seqs.length);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
    );

    // Filters: releases of the finance key, then only refusals.
    await page.getByLabel('Key', { exact: true }).fill('finance');
    await page.getByLabel('Action').fill('native.unwrap');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await rows(page).filter({ hasText: 'bob@example.test' }).waitFor();
    await rowCountIs(page, '===', 2);
    const release = rows(page).filter({ hasText: 'alice@example.test' });
    assert.match((await release.textContent()) ?? '', /native\.unwrapallowed/);
    assert.match((await release.textContent()) ?? '', /finance v1/);
    await page.getByLabel('Result').selectOption('denied');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await rowCountIs(page, '===', 1);
    assert.match(
      (await rows(page).first().textContent()) ?? '',
      /bob@example\.test.*ERR_FORBIDDEN|ERR_FORBIDDEN.*bob/,
    );
    assert.equal(await page.getByRole('button', { name: 'Older records' }).count(), 0);

    // Live: a change made elsewhere appears at the top, marked new, while the filters match it.
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Action').fill('admin.key.create');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('status').getByText('Live: new records appear at the top').waitFor();
    await rows(page).filter({ hasText: 'finance' }).first().waitFor();
    assert.equal(await adminCall('POST', '/keys', { name: 'legal', spec: 'P-256' }), 201);
    // Its `ok` record (written after the `allowed` one, maybe in a later batch) ends up on top, marked new.
    await rows(page)
      .filter({ hasText: /admin\.key\.createok.*legal v1/ })
      .waitFor({ timeout: 15_000 });
    assert.equal(await rows(page).first().getAttribute('class'), 'new');
    assert.match((await rows(page).first().textContent()) ?? '', /admin\.key\.createok.*legal v1/);

    // Paused: nothing arrives; resumed: what happened meanwhile comes in.
    await page.getByRole('button', { name: 'Pause live updates' }).click();
    await page.getByRole('status').getByText('Paused').waitFor();
    assert.equal(
      await page.getByRole('button', { name: 'Resume live updates' }).getAttribute('aria-pressed'),
      'true',
    );
    assert.equal(await adminCall('POST', '/keys', { name: 'sales', spec: 'P-256' }), 201);
    await page.waitForTimeout(2500);
    assert.equal(await rows(page).filter({ hasText: 'sales' }).count(), 0);
    await page.getByRole('button', { name: 'Resume live updates' }).click();
    await rows(page).filter({ hasText: 'sales' }).first().waitFor({ timeout: 15_000 });

    // The finance key's records for the screenshot, then an object id leads to its Document page.
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Key', { exact: true }).fill('finance');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await rows(page).filter({ hasText: 'ERR_FORBIDDEN' }).waitFor();
    await page.getByRole('status').getByText('Live: new records appear at the top').waitFor();
    await screenshot(page, 'audit');
    await page.getByLabel('Key', { exact: true }).fill('');
    await page.getByLabel('Action').fill('native.unwrap');
    await page.getByLabel('Result').selectOption('allowed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await rowCountIs(page, '===', 1);
    await page.getByRole('link', { name: `Who opened ${objectId}` }).click();
    await page.waitForURL(`${service.origin}/console/#document/${objectId}`);
    await page.getByRole('table', { name: 'Who opened it' }).getByText('alice@example.test').waitFor();
    await signOut(page);
    await page.close();

    // The live feed was opened (and recorded) once per filter change, not once a second.
    const records = await service.auditRecords();
    const opens = records.filter((r) => r.action === 'console.audit.live' && r.result === 'ok');
    assert.ok(opens.length >= 5 && opens.length <= 12, `${opens.length} live feeds opened`);
    assert.ok(opens.every((r) => r.subject === 'audrey'));
  },
);

test('auditor: the Document page reads a chosen file locally and shows who opened it', { skip }, async () => {
  const page = await browser.signedInPage('auditor');
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Document' }).click();
  await page.getByRole('heading', { name: 'Document', level: 1 }).waitFor();

  // Not an OpenDKE file: a clear message, nothing asked of the service.
  const requests: Request[] = [];
  page.on('request', (request) => requests.push(request));
  await page.getByLabel('OpenDKE file').setInputFiles(path.join(service.dir, 'board-minutes.txt'));
  await page.getByRole('alert').getByText('board-minutes.txt: This is not an OpenDKE file').waitFor();
  // Cut short inside its header, and a format version this console does not read.
  const whole = readFileSync(encrypted);
  const file = page.getByLabel('OpenDKE file');
  await file.setInputFiles({
    name: 'cut.dke',
    mimeType: 'application/octet-stream',
    buffer: whole.subarray(0, 40),
  });
  await page.getByRole('alert').getByText('cut.dke: The file ends inside its OpenDKE header').waitFor();
  const future = Buffer.from(whole);
  future[7] = 2;
  await file.setInputFiles({ name: 'v2.dke', mimeType: 'application/octet-stream', buffer: future });
  await page.getByRole('alert').getByText('v2.dke: This OpenDKE file has format version 2').waitFor();
  assert.deepEqual(
    requests.map((r) => r.url()),
    [],
  );

  await page.getByLabel('OpenDKE file').setInputFiles(encrypted);
  await page.getByRole('status').getByText(`object id ${objectId}`).waitFor();
  await page.waitForURL(`${service.origin}/console/#document/${objectId}`);
  const readers = page.getByRole('table', { name: 'Who opened it' });
  await readers.getByText('alice@example.test').waitFor();
  assert.match((await readers.locator('tbody tr').first().textContent()) ?? '', /alice@example\.test.*1/);
  await page.getByText('Opened 1 time by 1 person; 1 refusal.').waitFor();
  const refusals = page.getByRole('table', { name: 'Refusals' });
  assert.match((await refusals.textContent()) ?? '', /bob@example\.test.*ERR_FORBIDDEN|ERR_FORBIDDEN.*bob/);
  const revocation = page.getByRole('table', { name: 'Revocation on each key' });
  assert.match((await revocation.textContent()) ?? '', /financenot revoked/);
  // The file went nowhere: the only requests were the document query (GET, no body).
  assert.ok(requests.length > 0);
  for (const request of requests) {
    assert.equal(request.method(), 'GET', request.url());
    assert.equal(request.postData(), null);
    assert.match(request.url(), new RegExp(`/console/api/documents/${objectId}$`));
  }
  await screenshot(page, 'document');

  // Typed object ids: one nobody opened, and one that is not an object id at all.
  await page.getByLabel('Object id', { exact: true }).fill('AAAAAAAAAAAAAAAAAAAAAA');
  await page.getByRole('button', { name: 'Show who opened it' }).click();
  await page.getByText('Nobody has opened this object').waitFor();
  await page.goto(`${service.origin}/console/#document/not-an-id`);
  await page.getByRole('alert').getByText('An object id is 22 base64url characters').waitFor();
  await signOut(page);
  await page.close();

  const lookups = (await service.auditRecords()).filter(
    (r) => r.action === 'console.document.query' && r.result === 'ok' && r.objectId === objectId,
  );
  assert.ok(lookups.length >= 2, 'the Audit link and the file both looked the object up, audited');
  assert.deepEqual(browser.cspViolations, []);
});
