/** The public query on security events (admin API, `dke audit security`), validated into a store query. */
import { DkeError } from '../errors/index.js';
import type { SecurityEventQuery, SecurityEventRow } from '../store/index.js';

export const DEFAULT_SECURITY_EVENT_LIMIT = 100;
export const MAX_SECURITY_EVENT_LIMIT = 10_000;
/** Issuer and subject text kept per event (longer text is cut when recorded), so also the longest filter. */
export const MAX_SECURITY_EVENT_TEXT_CHARS = 256;

export interface SecurityEventFilter {
  readonly since?: string;
  readonly address?: string;
  readonly reason?: string;
  readonly issuer?: string;
  readonly subject?: string;
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
  const text = (field: string, value: unknown, maxLength: number): string => {
    if (typeof value !== 'string' || value === '' || value.length > maxLength) {
      throw bad(`${field} must be a non-empty string of at most ${maxLength} characters`);
    }
    return value;
  };
  if (filter.address !== undefined) query.clientAddress = text('address', filter.address, 64);
  if (filter.reason !== undefined) query.reason = text('reason', filter.reason, 64);
  if (filter.issuer !== undefined) {
    query.issuer = text('issuer', filter.issuer, MAX_SECURITY_EVENT_TEXT_CHARS);
  }
  if (filter.subject !== undefined) {
    query.subject = text('subject', filter.subject, MAX_SECURITY_EVENT_TEXT_CHARS);
  }
  return query;
}
