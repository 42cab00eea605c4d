/**
 * The shape of a `dke doctor` report (docs/doctor.md). Stable: the CLI's `--json` prints it and the
 * console's status page reads it, so fields are only ever added.
 */

/** `skip`: the check could not run here (what it needs was not given); never a failure. */
export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** Stable id: the check, and after a `:` what it looked at (`ms-dke-key:contoso`, `issuer:<issuer URL>`). */
  readonly id: string;
  readonly status: FindingStatus;
  /** What was found, one line. */
  readonly summary: string;
  /** What to do about it, in plain words; null when there is nothing to do. */
  readonly fix: string | null;
  /** Facts for machines and for the curious (URLs, dates, sizes); JSON-safe values only. */
  readonly details: Readonly<Record<string, unknown>>;
}

export interface DoctorReport {
  /** The public URL the checks ran against. */
  readonly url: string;
  /** ISO-8601 UTC time the run started. */
  readonly startedAt: string;
  readonly findings: readonly Finding[];
  readonly counts: Readonly<Record<FindingStatus, number>>;
  /** True when no finding failed. */
  readonly ok: boolean;
}

/** Builds a finding; `fix` and `details` are optional for brevity at call sites. */
export function finding(
  id: string,
  status: FindingStatus,
  summary: string,
  fix: string | null = null,
  details: Readonly<Record<string, unknown>> = {},
): Finding {
  return { id, status, summary, fix, details };
}

const ORDER: Record<FindingStatus, number> = { ok: 0, skip: 1, warn: 2, fail: 3 };

/** The worse of two statuses (fail > warn > skip > ok). */
export function worse(a: FindingStatus, b: FindingStatus): FindingStatus {
  return ORDER[a] >= ORDER[b] ? a : b;
}

/** "1 key", "2 keys": counts in summaries read as English. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
