/**
 * The Activity page's time window and chart data (docs/console.md, "Activity"): the query's range checked
 * and aligned to whole UTC buckets, the bucket size chosen by the range when not given, and the store's
 * sparse rows turned into dense columns (one value per bucket) as a chart library draws them.
 */
import { badQuery, QUERY_TIME, queryInstant } from './query-time.js';
import type { AuditActivityRow } from '../store/index.js';

export type ActivityBucket = 'hour' | 'day';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const BUCKET_MS: Record<ActivityBucket, number> = { hour: HOUR_MS, day: DAY_MS };

export const ACTIVITY_LIMITS = {
  /** The longest range the page may ask for. */
  maxRangeDays: 92,
  /** Hourly buckets up to this range (744 points); longer ranges are by day. */
  maxHourlyRangeDays: 31,
  /** Without `bucket`: hourly up to this range, daily beyond. */
  autoHourlyRangeDays: 7,
  /** Default range when `since` is absent. */
  defaultRangeHours: 24,
  /** Named series per chart; the rest are summed as "others". */
  series: 8,
} as const;

export const activityQuerystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: QUERY_TIME,
    until: QUERY_TIME,
    bucket: { enum: ['hour', 'day'] },
  },
} as const;

export interface ActivityQuery {
  readonly since?: string;
  readonly until?: string;
  readonly bucket?: ActivityBucket;
}

export interface ActivityWindow {
  /** ISO-8601 UTC with milliseconds, aligned to the bucket: since <= time < until. */
  readonly since: string;
  readonly until: string;
  readonly bucket: ActivityBucket;
  /** The start of every bucket, oldest first. */
  readonly buckets: readonly string[];
}

/** Checks the range (400 ERR_BAD_REQUEST), picks the bucket, widens the range to whole buckets. */
export function activityWindow(query: ActivityQuery, now: number): ActivityWindow {
  const until = query.until === undefined ? now : queryInstant(query.until, 'until');
  const since =
    query.since === undefined
      ? until - ACTIVITY_LIMITS.defaultRangeHours * HOUR_MS
      : queryInstant(query.since, 'since');
  if (until <= since) throw badQuery('until must be after since');
  const range = until - since;
  if (range > ACTIVITY_LIMITS.maxRangeDays * DAY_MS)
    throw badQuery(`the range is longer than ${ACTIVITY_LIMITS.maxRangeDays} days`);
  const bucket = query.bucket ?? (range <= ACTIVITY_LIMITS.autoHourlyRangeDays * DAY_MS ? 'hour' : 'day');
  if (bucket === 'hour' && range > ACTIVITY_LIMITS.maxHourlyRangeDays * DAY_MS)
    throw badQuery(`hourly buckets cover at most ${ACTIVITY_LIMITS.maxHourlyRangeDays} days; use bucket=day`);
  const size = BUCKET_MS[bucket];
  const start = Math.floor(since / size) * size;
  const end = Math.ceil(until / size) * size;
  const buckets: string[] = [];
  for (let t = start; t < end; t += size) buckets.push(new Date(t).toISOString());
  return { since: new Date(start).toISOString(), until: new Date(end).toISOString(), bucket, buckets };
}

/** One line of a chart: a key or subject (null: the others), a value per bucket. */
export interface ActivitySeries {
  readonly name: string | null;
  readonly releases: number[];
  readonly refusals: number[];
  readonly totalReleases: number;
  readonly totalRefusals: number;
}

/** Dense columns from the store's rows: named series by releases, then refusals, then name; others last. */
export function activitySeries(window: ActivityWindow, rows: readonly AuditActivityRow[]): ActivitySeries[] {
  const index = new Map(window.buckets.map((b, i) => [b, i]));
  const byName = new Map<string | null, { releases: number[]; refusals: number[] }>();
  for (const row of rows) {
    const i = index.get(row.bucket);
    if (i === undefined) continue; // cannot happen: the store buckets the same window
    let series = byName.get(row.name);
    if (series === undefined) {
      series = { releases: window.buckets.map(() => 0), refusals: window.buckets.map(() => 0) };
      byName.set(row.name, series);
    }
    series.releases[i] = row.releases;
    series.refusals[i] = row.refusals;
  }
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  const all = [...byName].map(([name, s]) => ({
    name,
    releases: s.releases,
    refusals: s.refusals,
    totalReleases: sum(s.releases),
    totalRefusals: sum(s.refusals),
  }));
  const rank = (s: ActivitySeries): number => (s.name === null ? 1 : 0);
  return all.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      b.totalReleases - a.totalReleases ||
      b.totalRefusals - a.totalRefusals ||
      ((a.name ?? '') < (b.name ?? '') ? -1 : 1),
  );
}
