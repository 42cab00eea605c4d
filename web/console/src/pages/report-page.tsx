/** Incident report (docs/console.md): not built yet. */
import type { JSX } from 'preact';
import type { PageProps } from '../page.js';

export function ReportPage(_props: PageProps): JSX.Element {
  return (
    <section aria-labelledby="report-title">
      <h1 id="report-title">Incident report</h1>
      <p>This page is being built.</p>
    </section>
  );
}
