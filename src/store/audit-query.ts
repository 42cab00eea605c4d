/** Checks shared by both stores' audit queries (src/store/types.ts AuditRowQuery). */
import { DkeError } from '../errors/index.js';
import type { AuditRowQuery } from './types.js';

/** Bounds the `NOT IN (...)` list: the console's read actions are a dozen. */
export const MAX_EXCLUDED_ACTIONS = 32;

/** The query's excluded actions, de-duplicated; too many is a caller's bug, not a user's input. */
export function excludedActions(query: AuditRowQuery): string[] {
  const excluded = [...new Set(query.excludeActions ?? [])];
  if (excluded.length > MAX_EXCLUDED_ACTIONS)
    throw new DkeError('ERR_INTERNAL', { detail: `more than ${MAX_EXCLUDED_ACTIONS} excluded actions` });
  return excluded;
}
