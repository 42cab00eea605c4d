/** The Audit and Document pages' view of audit records and their endpoints (docs/console.md). */
import { call } from '../../api.js';

export type AuditResult = 'allowed' | 'ok' | 'denied' | 'failed';

/** A record as the console API answers it (absent fields left out): the back end's type, imported type-only. */
export type { AuditRecordView } from '../../../../../src/console/audit-view.js';
import type { AuditRecordView } from '../../../../../src/console/audit-view.js';

/** The filters of the Audit page, as the API's query string names them. */
export interface AuditFilters {
  readonly since?: string;
  readonly until?: string;
  readonly key?: string;
  readonly subject?: string;
  readonly object?: string;
  readonly result?: AuditResult;
  readonly action?: string;
  /** `hide`: leave out the console's own page reads (listings, audit queries, page views). */
  readonly reads?: 'hide';
}

/** GET /audit and GET /documents/:objectId answer these (src/console/audit-api.ts, document-api.ts). */
export type { AuditPage as AuditPageAnswer } from '../../../../../src/console/audit-api.js';
export type { DocumentView as DocumentAnswer } from '../../../../../src/console/document-api.js';
import type { AuditPage as AuditPageAnswer } from '../../../../../src/console/audit-api.js';
import type { DocumentView as DocumentAnswer } from '../../../../../src/console/document-api.js';

/** `?since=…&key=…` of the filters that are set (plus extra parameters). */
export function queryOf(filters: AuditFilters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filters, ...extra })) {
    if (typeof value === 'string' && value !== '') params.set(name, value);
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export const auditApi = {
  page: (filters: AuditFilters, before?: number): Promise<AuditPageAnswer> =>
    call<AuditPageAnswer>(
      'GET',
      `/audit${queryOf(filters, before === undefined ? {} : { before: String(before) })}`,
    ),
  liveUrl: (filters: AuditFilters, after: number): string =>
    `/console/api/audit/live${queryOf(filters, { after: String(after) })}`,
  document: (objectId: string): Promise<DocumentAnswer> =>
    call<DocumentAnswer>('GET', `/documents/${encodeURIComponent(objectId)}`),
};

/** `2026-12-01 14:35:23 UTC`: the same on every screen, whatever the browser's zone. */
export function utcTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** Who acted: the user name when the token carried one, else the subject. */
export function whoOf(record: AuditRecordView): string {
  return record.userName ?? record.subject ?? '-';
}

export function keyOf(record: AuditRecordView): string {
  if (record.keyName === undefined) return '-';
  return record.keyVersion === undefined ? record.keyName : `${record.keyName} v${record.keyVersion}`;
}
