/** Document (docs/console.md): not built yet. */
import type { JSX } from 'preact';
import type { PageProps } from '../page.js';

export function DocumentPage(_props: PageProps): JSX.Element {
  return (
    <section aria-labelledby="document-title">
      <h1 id="document-title">Document</h1>
      <p>This page is being built.</p>
    </section>
  );
}
