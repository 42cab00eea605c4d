/**
 * Accessibility checks of a console page with axe-core (Deque's rule engine, run inside the page): the
 * WCAG 2.1 A and AA rules. The engine is evaluated through the DevTools protocol, which the page's CSP does
 * not govern, so the console's strict policy stays as it is while it runs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

export interface AxeViolation {
  readonly rule: string;
  readonly impact: string | null;
  readonly help: string;
  /** CSS selectors of the offending elements (the first few). */
  readonly targets: readonly string[];
}

interface AxeResultsLike {
  readonly violations: readonly {
    readonly id: string;
    readonly impact?: string | null;
    readonly help: string;
    readonly nodes: readonly { readonly target: readonly unknown[] }[];
  }[];
}

/** The WCAG 2.1 A/AA violations axe finds in the page as it is now. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  // A string, evaluated in the page: the tests are compiled without the DOM library.
  const options = { runOnly: { type: 'tag', values: WCAG_TAGS }, resultTypes: ['violations'] };
  const results = await page.evaluate(`axe.run(document, ${JSON.stringify(options)})`);
  return (results as AxeResultsLike).violations.map((violation) => ({
    rule: violation.id,
    impact: violation.impact ?? null,
    help: violation.help,
    targets: violation.nodes.slice(0, 5).map((node) => node.target.map(String).join(' ')),
  }));
}
