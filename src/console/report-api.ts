/**
 * The Incident report page's download (docs/console.md, "Incident report"): GET /report builds the report
 * exactly as `dke audit report` does (src/report/run.ts: the whole log verified first, then the records of
 * the baseline and the window) and answers it as an attachment, HTML or JSON. The window is checked
 * strictly: explicit UTC or offset times, since before until, at most MAX_REPORT_DAYS. One report at a time
 * in this process (another one meanwhile is 503 ERR_CONSOLE_BUSY); its verification joins one under way.
 */
import { DkeError } from '../errors/index.js';
import {
  hourFunction,
  produceIncidentReport,
  reportFilter,
  REPORT_RENDERERS,
  type ReportFilter,
} from '../report/index.js';
import { READERS, type ConsoleRouter } from './api.js';
import { badQuery, QUERY_TIME, queryInstant } from './query-time.js';
import type { IntegrityMonitor } from './integrity-monitor.js';
import type { ConsoleSources } from './sources.js';

/** The longest window a console report covers (plus its baseline before `since`). */
export const MAX_REPORT_DAYS = 366;
const DAY_MS = 86_400_000;

export const reportQuerystring = {
  type: 'object',
  additionalProperties: false,
  required: ['since', 'until', 'format'],
  properties: {
    since: QUERY_TIME,
    until: QUERY_TIME,
    key: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    object: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
    subject: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[^\\x00-\\x1f\\x7f]+$' },
    timezone: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_+/-]*$' },
    format: { type: 'string', enum: ['html', 'json'] },
  },
} as const;

interface ReportQuery {
  readonly since: string;
  readonly until: string;
  readonly key?: string;
  readonly object?: string;
  readonly subject?: string;
  readonly timezone?: string;
  readonly format: 'html' | 'json';
}

const CONTENT_TYPE = { html: 'text/html; charset=utf-8', json: 'application/json; charset=utf-8' } as const;

/** The filter of a query the schema let through, or ERR_BAD_REQUEST. */
export function consoleReportFilter(query: ReportQuery): ReportFilter {
  const since = queryInstant(query.since, 'since');
  const until = queryInstant(query.until, 'until');
  if (since >= until) throw badQuery('since must be before until');
  if (until - since > MAX_REPORT_DAYS * DAY_MS)
    throw badQuery(`the window is longer than ${MAX_REPORT_DAYS} days: narrow it`);
  if (query.timezone !== undefined) {
    try {
      hourFunction(query.timezone);
    } catch {
      throw badQuery(`unknown time zone: ${query.timezone}`);
    }
  }
  return reportFilter({
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    keyName: query.key,
    objectId: query.object,
    subject: query.subject,
    timezone: query.timezone,
  });
}

/** `2026-12-01T14:30:00.000Z` → `20261201T143000Z`: safe in a file name on every system. */
export function fileStamp(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** Runs one job at a time: a call while one runs is refused with 503 ERR_CONSOLE_BUSY. */
export function oneAtATime(): <T>(run: () => Promise<T>) => Promise<T> {
  let busy = false;
  return async (run) => {
    if (busy) throw new DkeError('ERR_CONSOLE_BUSY');
    busy = true;
    try {
      return await run();
    } finally {
      busy = false;
    }
  };
}

export function registerReportApi(
  route: ConsoleRouter,
  sources: ConsoleSources,
  monitor: IntegrityMonitor,
): void {
  const exclusive = oneAtATime();
  route(
    {
      method: 'GET',
      url: '/report',
      action: 'console.report.download',
      roles: READERS,
      schema: { querystring: reportQuerystring },
    },
    async ({ request, reply, audited }) => {
      const query = request.query as ReportQuery;
      const filter = consoleReportFilter(query);
      const target = {
        ...(filter.keyName === undefined ? {} : { keyName: filter.keyName }),
        ...(filter.objectId === undefined ? {} : { objectId: filter.objectId }),
      };
      const text = await audited(target, () =>
        exclusive(async () => {
          const report = await produceIncidentReport(
            sources,
            filter,
            async () => (await monitor.verify()).statement,
          );
          return REPORT_RENDERERS[query.format](report);
        }),
      );
      const name = `opendke-report-${fileStamp(filter.since)}-${fileStamp(filter.until)}.${query.format}`;
      void reply
        .header('content-type', CONTENT_TYPE[query.format])
        .header('content-disposition', `attachment; filename="${name}"`);
      return text;
    },
  );
}
