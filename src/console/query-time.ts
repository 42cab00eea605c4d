/**
 * Times in the console's query strings (Audit, Activity, Incident report): one shape and one check for all.
 * A date is UTC midnight; a date and time must name its zone (`Z` or `±HH:MM`), so nothing is read in the
 * server's local time. The pattern lets `2026-02-30` or `T25:00` through; `queryInstant` refuses them.
 */
import { DkeError } from '../errors/index.js';

export const QUERY_TIME = {
  type: 'string',
  maxLength: 40,
  pattern:
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$',
} as const;

export function badQuery(message: string): DkeError {
  return new DkeError('ERR_BAD_REQUEST', { message });
}

/** POSIX ms of a QUERY_TIME value; 400 ERR_BAD_REQUEST naming `name` for a day or time that does not exist. */
export function queryInstant(value: string, name: string): number {
  const [y, mo, d, h, mi, s] = [...value.matchAll(/[0-9]+/g)].slice(0, 6).map((m) => Number(m[0]));
  const day = new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 0));
  const calendar = day.getUTCFullYear() === y && day.getUTCMonth() + 1 === mo && day.getUTCDate() === d;
  const clock = (h ?? 0) <= 23 && (mi ?? 0) <= 59 && (s ?? 0) <= 59;
  const ms = calendar && clock ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw badQuery(`${name} is not a valid date or time`);
  return ms;
}
