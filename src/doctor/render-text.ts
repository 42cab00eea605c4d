/** The report for people: one line per finding (status, what was found), the fix indented below it. */
import type { DoctorReport, FindingStatus } from './types.js';

const LABEL: Readonly<Record<FindingStatus, string>> = {
  ok: 'ok  ',
  warn: 'WARN',
  fail: 'FAIL',
  skip: 'skip',
};

/** Strips control characters: summaries quote what remote servers sent. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** Ids up to this long line up; longer ones (issuer URLs) push their summary right. */
const MAX_ID_COLUMN = 28;

export function renderText(report: DoctorReport): string {
  const width = Math.min(MAX_ID_COLUMN, Math.max(0, ...report.findings.map((f) => f.id.length)));
  const lines = [`dke doctor: ${report.url}`, ''];
  for (const f of report.findings) {
    lines.push(`${LABEL[f.status]}  ${printable(f.id).padEnd(width)}  ${printable(f.summary)}`);
    if (f.fix !== null && f.status !== 'ok') lines.push(`      fix: ${printable(f.fix)}`);
  }
  const { ok, warn, fail, skip } = report.counts;
  lines.push('', `${ok} ok, ${warn} warnings, ${fail} failed, ${skip} skipped`);
  return `${lines.join('\n')}\n`;
}
