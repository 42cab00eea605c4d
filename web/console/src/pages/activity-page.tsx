/**
 * Activity (docs/console.md): key releases per key and per subject over time, refusals marked, for the last
 * 24 hours, 7 days, 30 days or a custom range (UTC); charts drawn with uPlot, the numbers also as tables.
 */
import type { JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../api.js';
import type { PageProps } from '../page.js';
import { ActivityChart } from './activity/activity-chart.js';
import { RANGES, bucketLabel, loadActivity, presetRange, type Activity } from './activity/activity-data.js';
import './activity/activity.css';
import { ErrorMessage, StatusLine } from '../messages.js';

/** `<input type="datetime-local">` text read as UTC (the page shows UTC throughout). */
function utcInstant(local: string): string | undefined {
  const ms = Date.parse(`${local}Z`);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

const inputValue = (iso: string): string => iso.slice(0, 16);

export function ActivityPage(_props: PageProps): JSX.Element {
  const [range, setRange] = useState('24h');
  const [from, setFrom] = useState(() => inputValue(new Date(Date.now() - 2 * 86_400_000).toISOString()));
  const [to, setTo] = useState(() => inputValue(new Date().toISOString()));
  const [activity, setActivity] = useState<Activity | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');

  // Only the latest request's answer is shown: a slow 30-day answer must not replace a later 24-hour one.
  const latest = useRef(0);
  const load = useCallback((since: string, until: string) => {
    const request = ++latest.current;
    setLoading(true);
    loadActivity(since, until).then(
      (answer) => {
        if (request !== latest.current) return;
        setActivity(answer);
        setError('');
        setLoading(false);
      },
      (e: unknown) => {
        if (request !== latest.current) return;
        setError(describeError(e));
        setLoading(false);
      },
    );
  }, []);

  const show = useCallback(
    (choice: string) => {
      const preset = RANGES.find((r) => r.id === choice);
      if (preset !== undefined) {
        const { since, until } = presetRange(preset, Date.now());
        load(since, until);
        return;
      }
      const since = utcInstant(from);
      const until = utcInstant(to);
      if (since === undefined || until === undefined) setError('Enter both times of the custom range.');
      else load(since, until);
    },
    [from, to, load],
  );
  // A preset range loads as soon as it is chosen; a custom one when its times are submitted.
  useEffect(() => {
    if (range !== 'custom') show(range);
  }, [range]);

  const submit = (event: Event) => {
    event.preventDefault();
    show(range);
  };

  const releases = activity?.byKey.reduce((sum, s) => sum + s.totalReleases, 0) ?? 0;
  const refusals = activity?.byKey.reduce((sum, s) => sum + s.totalRefusals, 0) ?? 0;
  return (
    <section aria-labelledby="activity-title" class="activity">
      <h1 id="activity-title">Activity</h1>
      <form class="activity-range" onSubmit={submit}>
        <div>
          <label for="activity-range">Range</label>
          <select id="activity-range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
            <option value="custom">Custom…</option>
          </select>
        </div>
        {range === 'custom' ? (
          <>
            <div>
              <label for="activity-from">From (UTC)</label>
              <input
                id="activity-from"
                type="datetime-local"
                required
                value={from}
                onInput={(e) => setFrom(e.currentTarget.value)}
              />
            </div>
            <div>
              <label for="activity-to">To (UTC)</label>
              <input
                id="activity-to"
                type="datetime-local"
                required
                value={to}
                onInput={(e) => setTo(e.currentTarget.value)}
              />
            </div>
          </>
        ) : null}
        <button type="submit" disabled={loading}>
          {range === 'custom' ? 'Show' : 'Refresh'}
        </button>
      </form>
      <StatusLine>
        {loading
          ? 'Loading…'
          : activity === undefined
            ? ''
            : `${releases} releases and ${refusals} refusals from ${bucketLabel(activity.since, 'hour')} to ${bucketLabel(activity.until, 'hour')} UTC, per ${activity.bucket}.`}
      </StatusLine>
      <ErrorMessage error={error} />
      {activity === undefined ? null : (
        <div class="activity-charts">
          <ActivityChart
            id="activity-keys"
            title="Releases per key"
            dimension="Key"
            activity={activity}
            series={activity.byKey}
          />
          <ActivityChart
            id="activity-subjects"
            title="Releases per subject"
            dimension="Subject"
            activity={activity}
            series={activity.bySubject}
          />
        </div>
      )}
    </section>
  );
}
