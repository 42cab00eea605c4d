/**
 * End to end in headless Chromium against a real `dke serve` (child process) and the real development
 * issuer. The console is browsed at http://localhost:<port> while the issuer is http://127.0.0.1:<port>:
 * two different sites, so the sign-in really crosses sites and the Strict session cookie must survive the
 * callback (docs/console.md, "Sessions").
 *
 * DKE_CONSOLE_SCREENSHOTS=1 saves a screenshot of each live page to docs/console/ (for docs/console.md).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { browserSkipReason } from '../support/browser.js';
import { startConsoleService, type ConsoleService } from '../support/console.js';
import {
  launchConsoleBrowser,
  screenshot,
  signOut,
  type ConsoleBrowser,
} from '../support/console-browser.js';
import { encryptForService, type ServiceFile } from '../support/service-file.js';

const skip = browserSkipReason();

let service: ConsoleService;
let browser: ConsoleBrowser;
/** The file alice opened under finance before the admin disabled it. */
let file: ServiceFile;

before(async () => {
  if (skip !== undefined) return;
  service = await startConsoleService({ name: 'e2e', childProcess: true });
  browser = await launchConsoleBrowser(service);
});
after(async () => {
  if (skip !== undefined) return;
  await browser.close();
  await service.close();
});

/** A change request from inside the page (same origin, the session cookie attached by the browser). */
function pageFetch(page: Page, url: string, csrf: boolean): Promise<{ status: number; error: string }> {
  return page.evaluate(
    async ({ url, csrf }) => {
      const headers: Record<string, string> = {};
      if (csrf) {
        const session = (await (await fetch('/console/api/session')).json()) as { csrfToken: string };
        headers['x-csrf-token'] = session.csrfToken;
      }
      const answer = await fetch(url, { method: 'POST', headers });
      return { status: answer.status, error: ((await answer.json()) as { error: string }).error };
    },
    { url, csrf },
  );
}

function row(page: Page, name: string) {
  return page.locator('tbody tr', { has: page.getByRole('rowheader', { name, exact: true }) });
}

test(
  'admin: sign in, create keys, set a policy, disable, rotate, revoke, destroy; CSRF-less change refused',
  { skip },
  async () => {
    const page = await browser.signedInPage('admin', 'sign-in');
    await page.getByText('Signed in as ada@example.test (admin)').waitFor();
    // Navigation: every page is a link, Keys is the current one.
    const nav = page.getByRole('navigation', { name: 'Pages' });
    await nav.getByRole('link', { name: 'Keys' }).waitFor();
    assert.equal(await nav.getByRole('link').count(), 7);
    assert.equal(await nav.getByRole('link', { name: 'Keys' }).getAttribute('aria-current'), 'page');

    // Create with the keyboard only: type the name, Enter submits.
    await page.getByLabel('Name', { exact: true }).focus();
    await page.keyboard.type('finance');
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Key finance created.').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('contoso');
    await page.getByLabel('Protocol').selectOption('ms-dke');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('status').getByText('Key contoso created.').waitFor();
    assert.equal(await row(page, 'contoso').locator('code').textContent(), `${service.origin}/contoso`);

    await row(page, 'finance').getByRole('button', { name: 'Manage finance' }).click();
    // A policy the service refuses: its message is shown, nothing saved.
    await page.getByLabel('users').fill('\uff41lice@example.test');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('alert').getByText(/NFKC/).waitFor();
    await page.getByLabel('users').fill('alice@example.test\n\n');
    await page.getByLabel('groups').fill('dke-readers');
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByRole('status').getByText('Policy of finance saved.').waitFor();
    await row(page, 'finance')
      .filter({ hasText: /users: alice@example\.test; groups: dke-readers/ })
      .waitFor();

    // alice opens a file under finance while the key is enabled: a release the auditor will be shown.
    file = await encryptForService(service.dir, service.url, 'finance', service.issuer);
    assert.equal(await file.decryptAs('alice@example.test'), 0);

    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('status').getByText('Key finance disabled.').waitFor();
    assert.notEqual(await file.decryptAs('alice@example.test'), 0, 'a disabled key releases nothing');
    await row(page, 'finance').locator('.state', { hasText: 'disabled' }).waitFor();
    await screenshot(page, 'keys');

    // The same change without the CSRF token, from inside the signed-in page: refused, nothing changed.
    const forged = await pageFetch(page, '/console/api/keys/finance/enable', false);
    assert.deepEqual(forged, { status: 403, error: 'ERR_CSRF' });
    await page.reload();
    await row(page, 'finance').locator('.state', { hasText: 'disabled' }).waitFor();

    // Rotate, revoke one object and destroy (typed confirmation) on the other key.
    await row(page, 'contoso').getByRole('button', { name: 'Manage contoso' }).click();
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('status').getByText('Key contoso rotated.').waitFor();
    await row(page, 'contoso').filter({ hasText: 'v2 active, 2 in all' }).waitFor();
    await page.getByLabel('Object id').fill('AAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Revoke object' }).click();
    await page.getByRole('status').getByText('Object revoked for contoso.').waitFor();
    const destroy = page.getByRole('button', { name: 'Destroy key' });
    assert.equal(await destroy.isDisabled(), true);
    await page.getByLabel('Type the key name').fill('contos');
    assert.equal(await destroy.isDisabled(), true);
    await page.getByLabel('Type the key name').fill('contoso');
    await destroy.click();
    await page.getByRole('status').getByText('Key contoso destroyed.').waitFor();
    await row(page, 'contoso').locator('.state', { hasText: 'destroyed' }).waitFor();
    await signOut(page);
    await page.close();

    const records = await service.auditRecords();
    const ok = records
      .filter((r) => r.subject === 'ada' && r.result === 'ok')
      .map((r) => `${r.action} ${r.keyName ?? ''}`);
    for (const done of [
      'admin.key.rotate contoso',
      'admin.object.revoke contoso',
      'admin.key.destroy contoso',
      'admin.key.create finance',
      'admin.key.create contoso',
      'admin.policy.set finance',
      'admin.key.disable finance',
    ]) {
      assert.ok(ok.includes(done), `${done} in ${ok.join(', ')}`);
    }
    assert.ok(
      records.some(
        (r) =>
          r.subject === 'ada' &&
          r.result === 'denied' &&
          r.reason === 'ERR_CSRF' &&
          r.action === 'admin.key.enable',
      ),
    );
  },
);

test(
  "auditor: reads keys but cannot change one; sees the admin's changes, who opened the file, and downloads the report",
  { skip },
  async () => {
    const page = await browser.signedInPage('auditor');
    await page.getByText('Signed in as audrey@example.test (auditor)').waitFor();
    await row(page, 'finance').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create key' }).count(), 0);
    await row(page, 'finance').getByRole('button', { name: 'Manage finance' }).click();
    assert.equal(await page.getByRole('button', { name: 'Enable' }).count(), 0);
    const attempt = await pageFetch(page, '/console/api/keys/finance/enable', true);
    assert.deepEqual(attempt, { status: 403, error: 'ERR_ADMIN_REQUIRED' });
    const nav = page.getByRole('navigation', { name: 'Pages' });

    // Audit: the admin's changes to finance, each by ada, and the refused enable just now.
    await nav.getByRole('link', { name: 'Audit' }).click();
    await page.getByLabel('Key', { exact: true }).fill('finance');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const records = page.locator('table.records tbody tr');
    for (const change of ['admin.key.createok', 'admin.policy.setok', 'admin.key.disableok']) {
      await records.filter({ hasText: change }).filter({ hasText: 'ada@example.test' }).first().waitFor();
    }
    await records
      .filter({ hasText: 'admin.key.enabledenied' })
      .filter({ hasText: 'ERR_ADMIN_REQUIRED' })
      .filter({ hasText: 'audrey@example.test' })
      .first()
      .waitFor();

    // Document: from alice's release in the log to who opened the file, and the refusal once disabled.
    await page.getByLabel('Action').fill('native.unwrap');
    await page.getByLabel('Result').selectOption('allowed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page
      .getByRole('link', { name: `Who opened ${file.objectId}` })
      .first()
      .click();
    await page.waitForURL(`${service.origin}/console/#document/${file.objectId}`);
    const readers = page.getByRole('table', { name: 'Who opened it' });
    await readers.getByRole('rowheader', { name: 'alice@example.test' }).waitFor();
    assert.equal(await readers.locator('tbody tr').count(), 1);
    await page.getByText(/Opened 1 time by 1 person; 1 refusal\./).waitFor();

    // Incident report over the last day, as HTML: the release, the refusal and the admin changes are in it.
    await nav.getByRole('link', { name: 'Incident report' }).click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download report' }).click(),
    ]);
    const html = readFileSync(await download.path(), 'utf8');
    assert.match(download.suggestedFilename(), /^opendke-report-.*\.html$/);
    assert.match(html, /VERIFIED: log verified up to size \d+/);
    for (const expected of [file.objectId, 'alice@example.test', 'ERR_KEY_DISABLED', 'admin.key.disable'])
      assert.ok(html.includes(expected), `the report names ${expected}`);
    await signOut(page);
    await page.close();
    const denied = (await service.auditRecords()).filter(
      (r) => r.subject === 'audrey' && r.result === 'denied',
    );
    assert.deepEqual(
      denied.map((r) => [r.action, r.keyName, r.reason]),
      [['admin.key.enable', 'finance', 'ERR_ADMIN_REQUIRED']],
    );
  },
);

test('a user without a role sees nothing but a page saying so', { skip }, async () => {
  const page = await browser.signedInPage('nobody');
  await page.getByRole('alert').getByText('your account has no console role').waitFor();
  assert.equal(await page.locator('table').count(), 0);
  assert.equal(await page.getByText('finance').count(), 0);
  await screenshot(page, 'no-role');
  const keys = await page.evaluate(async () => (await fetch('/console/api/keys')).status);
  assert.equal(keys, 403);
  await signOut(page);
  await page.close();
  assert.deepEqual(browser.cspViolations, []);
});
