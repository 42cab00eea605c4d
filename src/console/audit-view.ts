/** An audit record as the console's pages show it: the stored fields without the chain hashes, nulls left out. */
import type { AuditRow } from '../store/index.js';

export type AuditRecordView = Partial<Omit<AuditRow, 'prevHash' | 'hash'>> & {
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
