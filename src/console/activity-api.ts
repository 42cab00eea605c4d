/**
 * The Activity page's endpoint (docs/console.md, "Activity"): releases and refusals per time bucket, per key
 * and per subject, aggregated by the store (DkeStore.auditActivity). Admins and auditors; audited as
 * `console.activity.get` through the admin API's code path (KeyActions.call).
 */
import { READERS, type ConsoleRouter } from './api.js';
import type { ConsoleStore } from './sources.js';
import {
  ACTIVITY_LIMITS,
  activityQuerystring,
  activitySeries,
  activityWindow,
  type ActivityQuery,
  type ActivitySeries,
  type ActivityWindow,
} from './activity-window.js';

export interface ActivityView extends ActivityWindow {
  /** Named series per chart; the rest are the series with `name: null`. */
  readonly seriesLimit: number;
  readonly byKey: readonly ActivitySeries[];
  readonly bySubject: readonly ActivitySeries[];
}

export function registerActivityApi(
  route: ConsoleRouter,
  store: Pick<ConsoleStore, 'auditActivity'>,
  now: () => number = Date.now,
): void {
  route(
    {
      method: 'GET',
      url: '/activity',
      action: 'console.activity.get',
      roles: READERS,
      schema: { querystring: activityQuerystring },
    },
    async ({ request, audited }) => {
      // Checked before the call: a malformed range is a bad request, not a read of the log.
      const window = activityWindow(request.query as ActivityQuery, now());
      return audited({}, async (): Promise<ActivityView> => {
        const query = {
          since: window.since,
          until: window.until,
          bucket: window.bucket,
          series: ACTIVITY_LIMITS.series,
        };
        const [byKey, bySubject] = await Promise.all([
          store.auditActivity({ ...query, by: 'keyName' }),
          store.auditActivity({ ...query, by: 'subject' }),
        ]);
        return {
          ...window,
          seriesLimit: ACTIVITY_LIMITS.series,
          byKey: activitySeries(window, byKey),
          bySubject: activitySeries(window, bySubject),
        };
      });
    },
  );
}
