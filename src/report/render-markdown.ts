/** Markdown rendering. Record values are attacker-influenced: every one is escaped (see mdText). */
import {
  adminChangesTable,
  checkpointLine,
  integrityHeadline,
  outliersTable,
  refusalsTable,
  scopeLine,
  subjectsTable,
  truncationLine,
  who,
} from './summary.js';
import type { IncidentReport } from './types.js';

/** Escapes Markdown syntax and inline HTML, and turns line breaks and control characters into U+FFFD. */
export function mdText(value: string | number | null): string {
  if (value === null) return '-';
  return (
    String(value)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd')
      .replace(/[\\`*_[\]<>|~&]/g, (c) => `\\${c}`)
  );
}

const row = (cells: (string | number | null)[]): string => `| ${cells.map(mdText).join(' | ')} |`;
const header = (names: string[]): string[] => [
  `| ${names.join(' | ')} |`,
  `|${names.map(() => '---').join('|')}|`,
];

export function renderMarkdown(r: IncidentReport): string {
  const i = r.integrity;
  const out: string[] = ['# Incident report', ''];
  out.push(`**Integrity: ${mdText(integrityHeadline(i))}**`, '');
  out.push(`- ${mdText(checkpointLine(i))}`);
  for (const p of i.problems) out.push(`- Problem: ${mdText(p)}`);
  if (r.totals.unverifiedRecords > 0)
    out.push(`- ${r.totals.unverifiedRecords} records in the window lie beyond the verified size`);
  out.push(
    '',
    `Scope: ${mdText(scopeLine(r))}. Baseline: ${mdText(r.baseline.since)} to ${mdText(r.baseline.until)}.`,
  );
  out.push(`Generated ${mdText(r.generatedAt)}.`, '');
  const t = r.totals;
  out.push(
    `Totals: ${t.records} records, ${t.releases} key releases, ${t.refusals} refusals, ${t.adminChanges} admin changes, ${t.subjects} subjects.`,
  );
  const truncation = truncationLine(r);
  if (truncation !== undefined) out.push('', `**${mdText(truncation)}**`);

  out.push('', '## Key releases', '');
  if (r.releases.length === 0) out.push('None.');
  for (const g of r.releases) {
    out.push(`### Object ${mdText(g.objectId)}, key ${mdText(g.keyName)}: ${g.count} releases`, '');
    out.push(...header(['Identity', 'Count', 'Time', 'Key version', 'Client address', 'Request id']));
    for (const id of g.identities) {
      const name = who(id.issuer, id.subject, id.userName);
      out.push(row([name, id.count, `${id.firstTime} to ${id.lastTime}`, null, null, null]));
      for (const e of id.events) out.push(row(['', '', e.time, e.keyVersion, e.clientAddress, e.requestId]));
    }
    out.push('');
  }

  for (const [title, data] of [
    ['Refusals', refusalsTable(r)],
    ['Admin changes', adminChangesTable(r)],
    ['Subjects', subjectsTable(r)],
    ['Outliers', outliersTable(r)],
  ] as const) {
    out.push('', `## ${title}`, '');
    if (data.rows.length === 0) out.push('None.');
    else out.push(...header(data.columns), ...data.rows.map(row));
  }
  out.push('');
  return out.join('\n');
}
