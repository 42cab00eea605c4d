/** Times as the pages show and read them: local date and time, an age in words, datetime-local inputs. */

/** `3 min ago`, `2 h ago`, `just now`. */
export function ago(seconds: number): string {
  if (seconds < 5) return 'just now';
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
}

/** A duration: `850 ms`, `2.4 s`. */
export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** An ISO time in the browser's zone, e.g. `01/12/2026, 15:04:05`. */
export function localTime(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** The browser's IANA time zone (e.g. Europe/Berlin), UTC when it cannot tell. */
export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** A Date as a datetime-local input's value (local time, minutes). */
export function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** A datetime-local input's value (local time, no zone) as ISO-8601 UTC; undefined when empty or invalid. */
export function fromLocalInput(local: string): string | undefined {
  if (local === '') return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
