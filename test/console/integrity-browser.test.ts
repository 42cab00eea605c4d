/**
 * The Integrity, Incident report and Status pages end to end in headless Chromium against a real
 * `dke serve` (child process) with checkpoints every second and a real tlog-witness peer, signed in as an
 * auditor through the real development issuer: the checkpoint and its cosignature, "Verify now", a report
 * downloaded as HTML and JSON (playwright's download event, then the file's content), the doctor's findings.
 *
 * DKE_CONSOLE_SCREENSHOTS=1 saves docs/console/integrity.png, report.png and status.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Download, Page } from 'playwright-core';
import type { IncidentReport } from '../../src/report/index.js';
import { browserSkipReason } from '../support/browser.js';
import { startConsoleService, type ConsoleService } from '../support/console.js';
import {
  launchConsoleBrowser,
  screenshot,
  signOut,
  type ConsoleBrowser,
} from '../support/console-browser.js';
import { logVkeyOf, tamperAuditRecord } from '../support/console-transparency.js';
import { startTestWitness, type TestWitness } from '../support/tlog-witness.js';

const skip = browserSkipReason();
const WITNESS = 'witness.test/w1';

let witness: TestWitness;
let service: ConsoleService;
let browser: ConsoleBrowser;

before(async () => {
  if (skip !== undefined) return;
  witness = await startTestWitness(WITNESS);
  service = await startConsoleService({
    name: 'integrity-e2e',
    childProcess: true,
    auditLog: { checkpointIntervalSeconds: 1, witnesses: [{ url: witness.url, vkey: witness.vkey }] },
  });
  witness.logVkey = logVkeyOf(service.configFile);
  browser = await launchConsoleBrowser(service);
});
after(async () => {
  if (skip !== undefined) return;
  await browser.close();
  await service.close();
  await witness.close();
});

function open(page: Page, title: string): Promise<void> {
  return page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: title }).click();
}

/** Clicks the download button and waits for the file; returns it with its text. */
async function downloadReport(page: Page): Promise<{ download: Download; text: string }> {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download report' }).click(),
  ]);
  const file = await download.path();
  return { download, text: readFileSync(file, 'utf8') };
}

test(
  'auditor: checkpoint and cosignature, verify now, a report downloaded, the status checks',
  { skip },
  async () => {
    const page = await browser.signedInPage('auditor');

    // Integrity: wait (reloading) until the witness has cosigned the latest checkpoint.
    await open(page, 'Integrity');
    await page.getByRole('heading', { name: 'Latest signed checkpoint' }).waitFor();
    const cosigned = page.getByText(new RegExp(`${WITNESS} at .* \\((just now|\\d+ s ago)\\)`));
    const end = Date.now() + 30_000;
    while (!(await cosigned.isVisible()) || !(await page.getByText('No alarms.').isVisible())) {
      assert.ok(Date.now() < end, 'the latest checkpoint got cosigned, with no alarm');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await page.reload();
      await page.getByRole('heading', { name: 'Latest signed checkpoint' }).waitFor();
    }
    await page
      .getByText(`localhost:${new URL(service.origin).port}/opendke/audit`, { exact: true })
      .waitFor();
    await page.getByText('Not verified by this server process yet.').waitFor();
    await page.getByRole('button', { name: 'Verify now' }).click();
    const verified = page.getByRole('status').getByText(/Verified up to size \d+/);
    await verified.waitFor();
    await page.getByRole('cell', { name: 'fresh' }).waitFor();
    await screenshot(page, 'integrity');

    // Incident report: HTML, then JSON with its summary on the page.
    await open(page, 'Incident report');
    await page.getByText(/Times are in your browser's time zone/).waitFor();
    const html = await downloadReport(page);
    assert.match(html.download.suggestedFilename(), /^opendke-report-\d{8}T\d{4}00Z-\d{8}T\d{4}00Z\.html$/);
    assert.match(html.text, /<h1>Incident report<\/h1>/);
    assert.match(html.text, /VERIFIED: log verified up to size \d+/);
    assert.match(html.text, new RegExp(`cosigned by ${WITNESS}`));
    await page
      .getByRole('status')
      .getByText(/^Downloaded opendke-report-.*\.html/)
      .waitFor();

    await page.getByLabel('Format').selectOption('json');
    await page.getByLabel('Key (optional)').fill('no-such-key');
    const json = await downloadReport(page);
    assert.match(json.download.suggestedFilename(), /\.json$/);
    const report = JSON.parse(json.text) as IncidentReport;
    assert.equal(report.schema, 'opendke.incident-report');
    assert.equal(report.filter.keyName, 'no-such-key');
    assert.equal(report.integrity.verified, true);
    await page
      .getByRole('table', { name: 'In this report' })
      .getByText(/^verified up to size \d+$/)
      .waitFor();
    await page.getByLabel('Key (optional)').fill('');
    const all = await downloadReport(page);
    assert.ok((JSON.parse(all.text) as IncidentReport).totals.records > 0);
    await screenshot(page, 'report');

    // A range the page refuses before asking the server.
    await page.getByLabel('From').fill('2026-12-01T10:00');
    await page.getByLabel('To (not included)').fill('2026-12-01T09:00');
    await page.getByRole('button', { name: 'Download report' }).click();
    await page.getByRole('alert').getByText('"From" must be before "To".').waitFor();

    // Status: the doctor's findings, grouped, and a re-run.
    await open(page, 'Status');
    const verdict = page.getByRole('status').getByText(/All checks passed|No failures|checks? failed/);
    await verdict.waitFor();
    await page.getByRole('rowheader', { name: 'service:reachable' }).waitFor();
    await page.getByRole('table', { name: /^Passed \(\d+\)$/ }).waitFor();
    await page.getByRole('button', { name: 'Run again' }).click();
    await verdict.waitFor();
    await screenshot(page, 'status');

    // Someone with write access to the database changes a record: the next verification names it, and the
    // Integrity page raises the alarm.
    await tamperAuditRecord(service.dir, 3);
    await open(page, 'Integrity');
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page
      .getByRole('status')
      .getByText(/^Verification FAILED at record 3: the record does not match its hash/)
      .waitFor();
    await page
      .getByRole('alert')
      .getByText(/failed at record 3/)
      .waitFor();
    await screenshot(page, 'integrity-alarm');
    await signOut(page);
    await page.close();

    const records = await service.auditRecords();
    const mine = records.filter((r) => r.subject === 'audrey' && r.result === 'ok').map((r) => r.action);
    for (const action of [
      'console.integrity.get',
      'console.integrity.verify',
      'console.report.download',
      'console.status.get',
    ]) {
      assert.ok(mine.includes(action), `${action} in ${mine.join(', ')}`);
    }
    assert.deepEqual(browser.cspViolations, []);
  },
);
