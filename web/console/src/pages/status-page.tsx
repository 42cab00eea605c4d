/** Status (docs/console.md): not built yet. */
import type { JSX } from 'preact';
import type { PageProps } from '../page.js';

export function StatusPage(_props: PageProps): JSX.Element {
  return (
    <section aria-labelledby="status-title">
      <h1 id="status-title">Status</h1>
      <p>This page is being built.</p>
    </section>
  );
}
