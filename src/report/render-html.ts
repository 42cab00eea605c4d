/**
 * HTML rendering: one self-contained file, no scripts, no external assets. Record values are
 * attacker-influenced: every value goes through htmlText, and a Content-Security-Policy allows only the
 * page's own stylesheet (by hash), so even a missed escape could not run script or load anything.
 */
import { createHash } from 'node:crypto';
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
  type TableData,
} from './summary.js';
import type { IncidentReport } from './types.js';

const STYLE = `body{font-family:system-ui,sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top;font-size:.9em}
.ok{background:#e6f4ea;border:2px solid #2e7d32;padding:.6em}.failed{background:#fdecea;border:3px solid #c62828;padding:.6em;font-size:1.2em}
.sub td{color:#555}`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');
const CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; base-uri 'none'; form-action 'none'`;

export function htmlText(value: string | number | null): string {
  if (value === null) return '-';
  return String(value).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const cells = (tag: 'td' | 'th', values: (string | number | null)[]): string =>
  values.map((v) => `<${tag}>${htmlText(v)}</${tag}>`).join('');
const table = (head: string[], rows: string[]): string =>
  `<table><thead><tr>${cells('th', head)}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
const tr = (values: (string | number | null)[], cls?: string): string =>
  `<tr${cls === undefined ? '' : ` class="${cls}"`}>${cells('td', values)}</tr>`;
const section = (title: string, body: string): string =>
  `<h2>${htmlText(title)}</h2>${body || '<p>None.</p>'}`;

export function renderHtml(r: IncidentReport): string {
  const i = r.integrity;
  const t = r.totals;
  const status = `<div class="${i.verified ? 'ok' : 'failed'}"><strong>${htmlText(integrityHeadline(i))}</strong><ul>${[
    checkpointLine(i),
    ...i.problems.map((p) => `Problem: ${p}`),
    ...(t.unverifiedRecords > 0
      ? [`${t.unverifiedRecords} records in the window lie beyond the verified size`]
      : []),
  ]
    .map((line) => `<li>${htmlText(line)}</li>`)
    .join('')}</ul></div>`;
  const truncation = truncationLine(r);
  const releases = r.releases
    .map(
      (g) =>
        `<h3>${htmlText(`Object ${g.objectId ?? '-'}, key ${g.keyName ?? '-'}: ${g.count} releases`)}</h3>` +
        table(
          ['Identity', 'Count', 'Time', 'Key version', 'Client address', 'Request id'],
          g.identities.flatMap((id) => [
            tr([
              who(id.issuer, id.subject, id.userName),
              id.count,
              `${id.firstTime} to ${id.lastTime}`,
              null,
              null,
              null,
            ]),
            ...id.events.map((e) => tr(['', '', e.time, e.keyVersion, e.clientAddress, e.requestId], 'sub')),
          ]),
        ),
    )
    .join('');
  const tableOf = (data: TableData): string =>
    data.rows.length === 0
      ? ''
      : table(
          data.columns,
          data.rows.map((cells) => tr(cells)),
        );
  const refusals = tableOf(refusalsTable(r));
  const admin = tableOf(adminChangesTable(r));
  const subjects = tableOf(subjectsTable(r));
  const outliers = tableOf(outliersTable(r));
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${htmlText(CSP)}">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>Incident report</title><style>${STYLE}</style></head><body>`,
    '<h1>Incident report</h1>',
    status,
    `<p>${htmlText(`Scope: ${scopeLine(r)}. Baseline: ${r.baseline.since} to ${r.baseline.until}. Generated ${r.generatedAt}.`)}</p>`,
    `<p>${htmlText(`Totals: ${t.records} records, ${t.releases} key releases, ${t.refusals} refusals, ${t.adminChanges} admin changes, ${t.subjects} subjects.`)}</p>`,
    truncation === undefined ? '' : `<p><strong>${htmlText(truncation)}</strong></p>`,
    section('Key releases', releases),
    section('Refusals', refusals),
    section('Admin changes', admin),
    section('Subjects', subjects),
    section('Outliers', outliers),
    '</body></html>',
    '',
  ].join('\n');
}
