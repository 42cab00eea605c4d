/**
 * A page's messages: the status line, always in the page (a polite live region, so screen readers announce
 * what changes in it), and the error, an alert shown only while there is one.
 */
import type { ComponentChildren, JSX } from 'preact';

export function StatusLine({ children }: { readonly children: ComponentChildren }): JSX.Element {
  return (
    <p class="status" role="status" aria-live="polite">
      {children}
    </p>
  );
}

export function ErrorMessage({ error }: { readonly error: string }): JSX.Element | null {
  return error === '' ? null : (
    <p class="error" role="alert">
      {error}
    </p>
  );
}
