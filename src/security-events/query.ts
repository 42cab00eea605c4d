/** The public query on security events (admin API, `dke audit security`), validated into a store query. */
import { DkeError } from '../errors/index.js';
import type { SecurityEventQuery, SecurityEventRow } from '../store/index.js';

export const DEFAULT_SECURITY_EVENT_LIMIT = 100;
export const MAX_SECURITY_EVENT_LIMIT = 10_000;

export interface SecurityEventFilter {
  readonly since?: string;
  readonly address?: string;
  readonly reason?: string;
  readonly limit?: number;
}

export type SecurityEvent = SecurityEventRow;

export function securityEventQuery(filter: SecurityEventFilter): SecurityEventQuery {
  const bad = (message: string): DkeError => new DkeError('ERR_BAD_REQUEST', { message });
  const limit = filter.limit ?? DEFAULT_SECURITY_EVENT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SECURITY_EVENT_LIMIT) {
    throw bad(`limit must be a whole number from 1 to ${MAX_SECURITY_EVENT_LIMIT}`);
  }
  const query: { -readonly [K in keyof SecurityEventQuery]: SecurityEventQuery[K] } = { limit };
  if (filter.since !== undefined) {
    const date = new Date(filter.since);
    if (Number.isNaN(date.getTime())) throw bad('since must be an ISO-8601 date or time');
    query.since = date.toISOString();
  }
  for (const [field, value] of [
    ['address', filter.address],
    ['reason', filter.reason],
  ] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw bad(`${field} must be a non-empty string`);
    if (field === 'address') query.clientAddress = value;
    else query.reason = value;
  }
  return query;
}
