/**
 * One chart of the Activity page (per key or per subject): releases as lines, refusals of all its series as
 * warning-coloured points, uPlot's legend; then the same numbers as tables (totals per series, and per
 * bucket behind "Show as table"), since a screen reader cannot read the canvas.
 */
import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import uPlot from 'uplot';
import { UplotChart } from './uplot-chart.js';
import {
  REFUSAL_COLOUR,
  bucketLabel,
  refusalColumn,
  seriesColour,
  seriesLabel,
  type Activity,
  type ActivitySeries,
} from './activity-data.js';

interface ActivityChartProps {
  readonly id: string;
  readonly title: string;
  /** "Key" or "Subject": the table's first column. */
  readonly dimension: string;
  readonly activity: Activity;
  readonly series: readonly ActivitySeries[];
}

const utc = (seconds: number): Date => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC');

/** A time axis label in UTC, 24-hour: `13:00`, with the date under the first tick and under midnight. */
function timeTick(seconds: number, index: number, bucket: Activity['bucket']): string {
  const iso = new Date(seconds * 1000).toISOString();
  const date = iso.slice(5, 10);
  const time = iso.slice(11, 16);
  if (bucket === 'day' && time === '00:00') return date;
  return index === 0 || time === '00:00' ? `${time}\n${date}` : time;
}

function chartOptions(
  activity: Activity,
  series: readonly ActivitySeries[],
): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    tzDate: utc,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [
      { values: (_u, splits) => splits.map((s, i) => timeTick(s, i, activity.bucket)) },
      {
        label: 'per ' + activity.bucket,
        size: 50,
        incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000],
      },
    ],
    series: [
      { label: 'Time (UTC)' },
      ...series.map((s, i) => ({
        label: seriesLabel(s),
        stroke: seriesColour(s, i),
        width: 2,
        points: { show: activity.buckets.length <= 48 },
        ...(s.name === null ? { dash: [6, 4] } : {}),
      })),
      {
        label: 'Refusals (all)',
        stroke: REFUSAL_COLOUR,
        fill: REFUSAL_COLOUR,
        paths: () => null,
        points: { show: true, size: 9, width: 2, stroke: REFUSAL_COLOUR, fill: '#ffffff' },
      },
    ],
  };
}

function chartData(activity: Activity, series: readonly ActivitySeries[]): uPlot.AlignedData {
  return [
    activity.buckets.map((b) => Date.parse(b) / 1000),
    ...series.map((s) => [...s.releases]),
    refusalColumn(activity, series),
  ];
}

export function ActivityChart({ id, title, dimension, activity, series }: ActivityChartProps): JSX.Element {
  const options = useMemo(() => chartOptions(activity, series), [activity, series]);
  const data = useMemo(() => chartData(activity, series), [activity, series]);
  const releases = series.reduce((sum, s) => sum + s.totalReleases, 0);
  const refusals = series.reduce((sum, s) => sum + s.totalRefusals, 0);
  const busy = activity.buckets.flatMap((bucket, i) =>
    series
      .filter((s) => (s.releases[i] ?? 0) + (s.refusals[i] ?? 0) > 0)
      .map((s) => ({ bucket, s, releases: s.releases[i] ?? 0, refusals: s.refusals[i] ?? 0 })),
  );
  return (
    <section class="panel activity-chart" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {series.length === 0 ? (
        <p>No releases or refusals in this range.</p>
      ) : (
        <>
          <UplotChart
            options={options}
            data={data}
            height={230}
            label={`${title}: ${releases} releases and ${refusals} refusals, per ${activity.bucket}; the numbers are in the tables below.`}
          />
          <p class="note">
            Lines: releases per {activity.bucket} of the top {activity.seriesLimit} {dimension.toLowerCase()}s
            (dashed: all others).{' '}
            <span class="refusal-mark" aria-hidden="true">
              ○
            </span>{' '}
            Refusals (denied or failed) of all of them.
          </p>
          <table class="activity-totals">
            <caption>{title}: totals</caption>
            <thead>
              <tr>
                <th scope="col">{dimension}</th>
                <th scope="col" class="number">
                  Releases
                </th>
                <th scope="col" class="number">
                  Refusals
                </th>
              </tr>
            </thead>
            <tbody>
              {series.map((s, i) => (
                <tr key={s.name ?? '\u0000others'}>
                  <th scope="row">
                    <span
                      class="swatch"
                      ref={(el) => el?.style.setProperty('background', seriesColour(s, i))}
                    />
                    {seriesLabel(s)}
                  </th>
                  <td class="number">{s.totalReleases}</td>
                  <td class={s.totalRefusals > 0 ? 'number refused' : 'number'}>{s.totalRefusals}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <details>
            <summary>Show as table, per {activity.bucket}</summary>
            <table class="activity-buckets">
              <caption>
                {title}, per {activity.bucket} (UTC; buckets with activity only)
              </caption>
              <thead>
                <tr>
                  <th scope="col">Time (UTC)</th>
                  <th scope="col">{dimension}</th>
                  <th scope="col" class="number">
                    Releases
                  </th>
                  <th scope="col" class="number">
                    Refusals
                  </th>
                </tr>
              </thead>
              <tbody>
                {busy.map(({ bucket, s, releases: r, refusals: f }) => (
                  <tr key={`${bucket}\u0000${s.name ?? ''}`}>
                    <td>{bucketLabel(bucket, activity.bucket)}</td>
                    <th scope="row">{seriesLabel(s)}</th>
                    <td class="number">{r}</td>
                    <td class={f > 0 ? 'number refused' : 'number'}>{f}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}
