/** An audit record as the console's pages show it: the stored fields without the chain hashes, nulls left out. */
import type { AuditRow } from '../store/index.js';

/** The optional fields of a row, null (absent) left out rather than sent. */
type Present<T> = { readonly [K in keyof T]?: Exclude<T[K], null> };

export type AuditRecordView = Present<
  Omit<AuditRow, 'prevHash' | 'hash' | 'seq' | 'time' | 'action' | 'result'>
> & {
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly result: string;
};

export function recordView(row: AuditRow): AuditRecordView {
  const view: Record<string, string | number> = {};
  for (const [field, value] of Object.entries(row) as [string, string | number | null][]) {
    if (value !== null && field !== 'hash' && field !== 'prevHash') view[field] = value;
  }
  return view as AuditRecordView;
}
