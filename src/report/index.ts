/** Incident reports over the audit log (docs/audit.md "Incident report"): pure analysis and rendering. */
export {
  buildIncidentReport,
  reportReadsFrom,
  hourFunction,
  MAX_ADDRESSES_PER_SUBJECT,
  REPORT_DEFAULTS,
} from './build.js';
export { integrityStatement, NO_CHECKPOINT_TEXT, type VerifiableLog } from './integrity.js';
export { renderMarkdown } from './render-markdown.js';
export { renderJson } from './render-json.js';
export { renderHtml } from './render-html.js';
export type * from './types.js';
