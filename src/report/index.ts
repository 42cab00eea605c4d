/** Incident reports over the audit log (docs/audit.md "Incident report"): pure analysis and rendering. */
export {
  buildIncidentReport,
  reportReadsFrom,
  hourFunction,
  MAX_ADDRESSES_PER_SUBJECT,
  REPORT_DEFAULTS,
} from './build.js';
export {
  checkpointOf,
  integrityStatement,
  NO_CHECKPOINT_TEXT,
  type CheckpointSource,
  type VerifiableLog,
} from './integrity.js';
export { renderMarkdown } from './render-markdown.js';
export { renderJson } from './render-json.js';
export { renderHtml } from './render-html.js';
export type * from './types.js';
export {
  produceIncidentReport,
  reportFilter,
  REPORT_FORMATS,
  REPORT_RENDERERS,
  type ReportFormat,
  type ReportSources,
} from './run.js';
