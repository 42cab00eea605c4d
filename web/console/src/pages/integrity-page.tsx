/** Integrity (docs/console.md): not built yet. */
import type { JSX } from 'preact';
import type { PageProps } from '../page.js';

export function IntegrityPage(_props: PageProps): JSX.Element {
  return (
    <section aria-labelledby="integrity-title">
      <h1 id="integrity-title">Integrity</h1>
      <p>This page is being built.</p>
    </section>
  );
}
