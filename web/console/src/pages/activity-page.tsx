/** Activity (docs/console.md): not built yet. */
import type { JSX } from 'preact';
import type { PageProps } from '../page.js';

export function ActivityPage(_props: PageProps): JSX.Element {
  return (
    <section aria-labelledby="activity-title">
      <h1 id="activity-title">Activity</h1>
      <p>This page is being built.</p>
    </section>
  );
}
