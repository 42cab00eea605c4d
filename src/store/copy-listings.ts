/**
 * What `dke store copy` reads besides the audit log, in an order that does not depend on the backend: the
 * stores sort by name, but PostgreSQL's ORDER BY follows the database's collation and SQLite's does not, so
 * copy and verification sort again here, by UTF-16 code units.
 */
import type { DkeStore, SecurityEventRow } from './types.js';

/**
 * Security events copied, at most: the largest `server.securityEvents.maxRows` the configuration allows, so
 * a store pruned by any valid retention holds no more. They are read at once (a bounded table, about 200
 * bytes a row: 10,000 rows at the default retention), newest first.
 */
export const SECURITY_EVENTS_COPY_LIMIT = 1_000_000;

export function readSecurityEvents(store: DkeStore): Promise<SecurityEventRow[]> {
  return store.querySecurityEvents({ limit: SECURITY_EVENTS_COPY_LIMIT });
}

/** Sorts a copy of `items` by the text `key` gives, in code-unit order. */
export function sortedBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  return items
    .map((item) => [key(item), item] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, item]) => item);
}

/** A security event's identity (its primary key), for sorting. */
export function securityEventKey(row: SecurityEventRow): string {
  return JSON.stringify([row.windowStart, row.clientAddress, row.reason, row.issuer, row.subject]);
}
