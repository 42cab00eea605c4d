/** The Activity page's data: GET /console/api/activity, the range choices, and the chart's columns. */
import { call } from '../../api.js';

export type Bucket = 'hour' | 'day';

/** GET /console/api/activity answers this: the back end's own types, type-only. */
export type { ActivityView as Activity } from '../../../../../src/console/activity-api.js';
export type { ActivitySeries } from '../../../../../src/console/activity-window.js';
import type { ActivityView as Activity } from '../../../../../src/console/activity-api.js';
import type { ActivitySeries } from '../../../../../src/console/activity-window.js';

export interface RangeChoice {
  readonly id: string;
  readonly label: string;
  readonly hours: number;
}

export const RANGES: readonly RangeChoice[] = [
  { id: '24h', label: 'Last 24 hours', hours: 24 },
  { id: '7d', label: 'Last 7 days', hours: 7 * 24 },
  { id: '30d', label: 'Last 30 days', hours: 30 * 24 },
];

/** The query of a preset range ending now, or of a custom one (ISO instants). */
export function loadActivity(since: string, until: string): Promise<Activity> {
  const query = new URLSearchParams({ since, until });
  return call<Activity>('GET', `/activity?${query.toString()}`);
}

export function presetRange(choice: RangeChoice, now: number): { since: string; until: string } {
  return {
    since: new Date(now - choice.hours * 3_600_000).toISOString(),
    until: new Date(now).toISOString(),
  };
}

/** `2025-03-01T13:00:00.000Z` → `2025-03-01 13:00` (hour) or `2025-03-01` (day), UTC. */
export function bucketLabel(iso: string, bucket: Bucket): string {
  return bucket === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

export const seriesLabel = (series: ActivitySeries): string => series.name ?? 'others';

/**
 * Colour-blind-safe line colours (Okabe-Ito, then a few more), grey for the others; refusals in a warning
 * red that no line uses.
 */
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#8c6d1f', '#6a3d9a', '#1b1f24'];
export const OTHERS_COLOUR = '#8a949e';
export const REFUSAL_COLOUR = '#d1242f';

export function seriesColour(series: ActivitySeries, index: number): string {
  return series.name === null ? OTHERS_COLOUR : (PALETTE[index % PALETTE.length] ?? OTHERS_COLOUR);
}

/** Refusals of every series per bucket; null where there were none (no point drawn). */
export function refusalColumn(activity: Activity, series: readonly ActivitySeries[]): (number | null)[] {
  return activity.buckets.map((_, i) => {
    const total = series.reduce((sum, s) => sum + (s.refusals[i] ?? 0), 0);
    return total === 0 ? null : total;
  });
}
