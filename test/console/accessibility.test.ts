/**
 * Every console page on a laptop screen (1366x768, test/support/browser.ts), checked the way the issue asks:
 * axe-core finds no WCAG 2.1 A/AA violation, nothing is wider than the window (no sideways scrolling), and
 * the navigation works with the keyboard alone (Tab to a page's link, Enter opens it, the page's heading
 * follows). Run as an admin who also audits, so every page is there and has data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { axeViolations } from '../support/axe.js';
import { browserSkipReason, launchBrowser, type Browser } from '../support/browser.js';
import { startConsoleIssuer, writeConsoleConfig } from '../support/console.js';
import { newConsolePage, signIn } from '../support/console-browser.js';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../support/server-process.js';
import { freePort } from '../support/free-port.js';
import { encryptForService } from '../support/service-file.js';

const skip = browserSkipReason();

let dir: string;
let issuer: DevIssuer;
let service: ServerProcess;
let browser: Browser;
let origin: string;
let objectId: string;
const cspViolations: string[] = [];

before(async () => {
  if (skip !== undefined) return;
  dir = mkdtempSync(path.join(tmpdir(), 'opendke-console-a11y-'));
  const port = await freePort();
  origin = `http://localhost:${port}`;
  issuer = await startConsoleIssuer(origin);
  service = await startServerProcess(writeConsoleConfig(dir, issuer, port, origin), { cwd: dir });
  browser = await launchBrowser();
});
after(async () => {
  if (skip !== undefined) return;
  await browser?.close();
  await stopServerProcess(service);
  await issuer.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Fails with every violation listed: rule, impact, what to fix and where. */
async function assertAccessible(page: Page, what: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(
    violations.map((v) => `${v.rule} (${v.impact ?? '?'}): ${v.help} at ${v.targets.join(', ')}`),
    [],
    `${what}: axe-core found WCAG 2.1 A/AA violations`,
  );
  const width = await page.evaluate<{ page: number; window: number }>(
    '({ page: document.documentElement.scrollWidth, window: window.innerWidth })',
  );
  assert.ok(width.page <= width.window, `${what} is ${width.page} px wide in a ${width.window} px window`);
}

test(
  'every page: no WCAG 2.1 A/AA violation, no sideways scrolling at 1366x768, keyboard navigation',
  { skip },
  async () => {
    const page = await newConsolePage(browser.context, cspViolations);
    await signIn(page, origin, issuer, 'admin');
    // Data on every page: a key, a file opened under it, a policy refusal.
    await page.getByLabel('Name', { exact: true }).fill('finance');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('status').getByText('Key finance created.').waitFor();
    const file = await encryptForService(dir, service.url, 'finance', issuer);
    objectId = file.objectId;
    assert.notEqual(await file.decryptAs('mallory@example.test'), 0, 'the empty policy refuses everyone');
    await page.reload();
    await page.getByRole('rowheader', { name: 'finance', exact: true }).waitFor();
    await assertAccessible(page, 'Keys');
    await page.getByRole('button', { name: 'Manage finance' }).click();
    await page.getByRole('button', { name: 'Save policy' }).waitFor();
    await assertAccessible(page, 'Keys, one key managed');

    const nav = page.getByRole('navigation', { name: 'Pages' });
    const titles = await nav.getByRole('link').allTextContents();
    assert.deepEqual(titles, [
      'Keys',
      'Audit',
      'Document',
      'Integrity',
      'Incident report',
      'Activity',
      'Status',
    ]);
    for (const title of titles.slice(1)) {
      // Keyboard only: focus the link with Tab from the one before, Enter opens the page.
      const link = nav.getByRole('link', { name: title, exact: true });
      await nav.getByRole('link', { name: titles[titles.indexOf(title) - 1], exact: true }).focus();
      await page.keyboard.press('Tab');
      assert.equal(
        await page.evaluate<string | null>('document.activeElement && document.activeElement.textContent'),
        title,
        `Tab reaches ${title}`,
      );
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: title, level: 1 }).waitFor();
      assert.equal(await link.getAttribute('aria-current'), 'page');
      await settle(page, title);
      await assertAccessible(page, title);
    }
    assert.deepEqual(cspViolations, []);
  },
);

/** Waits for what each page loads, so axe sees the page with its data rather than a loading state. */
async function settle(page: Page, title: string): Promise<void> {
  switch (title) {
    case 'Audit':
      await page.locator('table.records tbody tr').first().waitFor();
      break;
    case 'Document':
      await page.getByRole('textbox', { name: 'Object id', exact: true }).fill(objectId);
      await page.getByRole('button', { name: 'Show who opened it' }).click();
      await page.getByText(/Nobody has opened this object/).waitFor();
      break;
    case 'Integrity':
      await page.getByRole('heading', { name: 'Alarms' }).waitFor();
      break;
    case 'Activity':
      await page.locator('canvas').first().waitFor();
      break;
    case 'Status':
      await page
        .getByText(/checks? (passed|failed)|All checks passed|warning/i)
        .first()
        .waitFor();
      break;
    default:
      break;
  }
}
