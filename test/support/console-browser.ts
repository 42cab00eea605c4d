/**
 * The console's browser tests' shared steps (test/console/*-browser.test.ts): a page that collects the CSP
 * violations Chromium reports, signing in through the development issuer's form, signing out, and the
 * screenshots for docs/console.md (saved only with DKE_CONSOLE_SCREENSHOTS=1); and all of it as one
 * `launchConsoleBrowser` for a console service.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { launchBrowser } from './browser.js';
import { USERS, type TestUser } from './console.js';
import { repoRoot } from './paths.js';

export const SCREENSHOTS = process.env.DKE_CONSOLE_SCREENSHOTS === '1';
const SHOTS_DIR = path.join(repoRoot, 'docs', 'console');

/** Saves docs/console/<name>.png (the whole page) when DKE_CONSOLE_SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SHOTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS_DIR, `${name}.png`), fullPage: true });
}

/** A new page whose Content-Security-Policy violations (console messages) are added to `violations`. */
export async function newConsolePage(context: BrowserContext, violations: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
  });
  return page;
}

/** From the console's start page (at `origin`) through the issuer's form and back, as `user`. */
export async function signIn(
  page: Page,
  origin: string,
  issuer: DevIssuer,
  user: TestUser,
  shot?: string,
): Promise<void> {
  await page.goto(`${origin}/console/`);
  const signInLink = page.getByRole('link', { name: 'Sign in' });
  await signInLink.waitFor();
  if (shot !== undefined) await screenshot(page, shot);
  await signInLink.click();
  await page.waitForURL(`${issuer.issuer}/authorize?**`);
  await page.getByLabel('User name').fill(USERS[user].username);
  await page.getByLabel('Password').fill(USERS[user].password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The callback page moves on to /console/ by itself; the session cookie must come along.
  await page.waitForURL(`${origin}/console/`);
  await page.getByText('Signed in as').waitFor();
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
}

export interface ConsoleBrowser {
  /** The CSP violations of every page it opened; a test ends by asserting there were none. */
  readonly cspViolations: string[];
  /** A new page signed in as `user` through the issuer's form (`shot`: a screenshot of the start page). */
  signedInPage(user: TestUser, shot?: string): Promise<Page>;
  close(): Promise<void>;
}

/** Headless Chromium (test/support/browser.ts) for the console at `service.origin`. */
export async function launchConsoleBrowser(service: {
  readonly origin: string;
  readonly issuer: DevIssuer;
}): Promise<ConsoleBrowser> {
  const browser = await launchBrowser();
  const cspViolations: string[] = [];
  return {
    cspViolations,
    async signedInPage(user, shot) {
      const page = await newConsolePage(browser.context, cspViolations);
      await signIn(page, service.origin, service.issuer, user, shot);
      return page;
    },
    close: () => browser.close(),
  };
}
