/** JSON rendering: the IncidentReport itself (schema "opendke.incident-report", version 1, docs/audit.md). */
import type { IncidentReport } from './types.js';

export function renderJson(report: IncidentReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
