/** Audit (docs/console.md): not built yet. */
import type { JSX } from 'preact';
import type { PageProps } from '../page.js';

export function AuditPage(_props: PageProps): JSX.Element {
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      <p>This page is being built.</p>
    </section>
  );
}
