/**
 * Every console page on a laptop screen (1366x768, test/support/browser.ts), checked the way the issue asks:
 * axe-core finds no WCAG 2.1 A/AA violation, nothing is wider than the window (no sideways scrolling), and
 * the navigation works with the keyboard alone (Tab to a page's link, Enter opens it, the page's heading
 * follows). Run as an admin who also audits, so every page is there and has data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { axeViolations } from '../support/axe.js';
import { browserSkipReason } from '../support/browser.js';
import { startConsoleService, type ConsoleService } from '../support/console.js';
import { launchConsoleBrowser, type ConsoleBrowser } from '../support/console-browser.js';
import { encryptForService } from '../support/service-file.js';

const skip = browserSkipReason();

let service: ConsoleService;
let browser: ConsoleBrowser;
let objectId: string;

before(async () => {
  if (skip !== undefined) return;
  service = await startConsoleService({ name: 'a11y', childProcess: true });
  browser = await launchConsoleBrowser(service);
});
after(async () => {
  if (skip !== undefined) return;
  await browser?.close();
  await service.close();
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
    const page = await browser.signedInPage('admin');
    // Data on every page: a key, a file opened under it, a policy refusal.
    await page.getByLabel('Name', { exact: true }).fill('finance');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('status').getByText('Key finance created.').waitFor();
    const file = await encryptForService(service.dir, service.url, 'finance', service.issuer);
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
    assert.deepEqual(browser.cspViolations, []);
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
