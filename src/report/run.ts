/**
 * One incident report, start to finish, as `dke audit report` and the console's report download both make
 * it (docs/audit.md "Incident report"): the integrity statement first (the whole log verified), then the
 * records of the baseline and the window streamed through the builder, then one renderer.
 */
import type { DkeStore } from '../store/index.js';
import { buildIncidentReport, reportReadsFrom } from './build.js';
import { integrityStatement, type CheckpointSource, type VerifiableLog } from './integrity.js';
import { renderHtml } from './render-html.js';
import { renderJson } from './render-json.js';
import { renderMarkdown } from './render-markdown.js';
import type { IncidentReport, IntegrityStatement, ReportFilter } from './types.js';

export const REPORT_FORMATS = ['md', 'json', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const REPORT_RENDERERS: Readonly<Record<ReportFormat, (report: IncidentReport) => string>> = {
  md: renderMarkdown,
  json: renderJson,
  html: renderHtml,
};

/** What a report reads: the log to verify, and the store's checkpoints and audit rows. */
export interface ReportSources {
  readonly log: VerifiableLog;
  readonly store: CheckpointSource & Pick<DkeStore, 'iterateAuditRows'>;
}

/** The given optional filters, without empty keys (`--key`, `key=`...). */
export function reportFilter(fields: {
  readonly since: string;
  readonly until: string;
  readonly keyName?: string | undefined;
  readonly objectId?: string | undefined;
  readonly subject?: string | undefined;
  readonly timezone?: string | undefined;
}): ReportFilter {
  const { since, until, keyName, objectId, subject, timezone } = fields;
  return {
    since,
    until,
    ...(keyName === undefined ? {} : { keyName }),
    ...(objectId === undefined ? {} : { objectId }),
    ...(subject === undefined ? {} : { subject }),
    ...(timezone === undefined ? {} : { timezone }),
  };
}

/**
 * Verifies the log (or takes the statement `verify` gives: the console shares one verification between
 * concurrent callers), then builds the report over the records from the baseline's start on.
 */
export async function produceIncidentReport(
  sources: ReportSources,
  filter: ReportFilter,
  verify: () => Promise<IntegrityStatement> = () => integrityStatement(sources.log, sources.store),
): Promise<IncidentReport> {
  const integrity = await verify();
  return buildIncidentReport(sources.store.iterateAuditRows(reportReadsFrom(filter)), filter, integrity);
}
