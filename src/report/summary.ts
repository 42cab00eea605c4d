/** Plain-text pieces shared by the renderers (each renderer escapes them for its format). */
import { NO_CHECKPOINT_TEXT } from './integrity.js';
import type { IncidentReport, IntegrityStatement, Outlier } from './types.js';

/** The heading sentence: VERIFIED or FAILED, with size, root and chain head. */
export function integrityHeadline(i: IntegrityStatement): string {
  const root = i.rootHash === undefined ? '' : `, root ${i.rootHash}`;
  const head = i.chainHead === undefined ? '' : `, chain head ${i.chainHead}`;
  if (i.verified) return `VERIFIED: log verified up to size ${i.size}${root}${head}`;
  const at = i.firstBroken === undefined ? '' : ` at record ${i.firstBroken.seq}: ${i.firstBroken.reason}`;
  return `FAILED: log verification failed${at}; records 1-${i.size} verify${root}${head}`;
}

export function checkpointLine(i: IntegrityStatement): string {
  if (i.checkpoint === undefined) return `Checkpoint: ${NO_CHECKPOINT_TEXT}`;
  const c = i.checkpoint;
  const cosigned =
    i.cosignatures === undefined || i.cosignatures.length === 0
      ? 'not cosigned by any witness'
      : `cosigned by ${i.cosignatures.map((w) => `${w.witness} at ${w.time}`).join(', ')}`;
  return `Checkpoint: ${c.origin} size ${c.size} root ${c.rootHash}, signed by ${c.signedBy.join(', ')}; ${cosigned}`;
}

export function scopeLine(r: IncidentReport): string {
  const f = r.filter;
  const parts = [`${f.since} to ${f.until}`];
  if (f.keyName !== null) parts.push(`key ${f.keyName}`);
  if (f.objectId !== null) parts.push(`object ${f.objectId}`);
  if (f.subject !== null) parts.push(`subject ${f.subject}`);
  parts.push(`hours in ${f.timezone}`);
  return parts.join(', ');
}

export function outlierText(o: Outlier): string {
  switch (o.kind) {
    case 'rate':
      return `${o.releases} releases, expected ${o.expected} (baseline median ${o.baselineMedianPerDay}/day); rule: > ${o.factor}x expected and >= ${o.minimum}`;
    case 'new-address':
      return `new client address ${o.clientAddress} (first ${o.firstTime}, ${o.records} records)`;
    case 'unusual-hour':
      return `${o.releases} releases at hour ${o.hour}, no baseline activity then (baseline hours: ${o.baselineHours.join(',') || 'none'})`;
    case 'new-subject':
      return `no activity in the baseline (first ${o.firstTime}, ${o.records} records)`;
  }
}

export function truncationLine(r: IncidentReport): string | undefined {
  const t = r.truncated;
  if (!t.any) return undefined;
  return (
    `Truncated at ${r.rules.maxRows} rows per section: left out ${t.releaseEvents} release events ` +
    `(${t.releaseRecordsWithoutIdentityRow} without an identity row), ${t.refusalRecords} refusals, ` +
    `${t.adminChanges} admin changes, ${t.subjects} subjects, ${t.outliers} outliers. Totals count everything.`
  );
}

export const who = (issuer: string | null, subject: string | null, userName: string | null): string =>
  [userName, subject === null ? null : `sub ${subject}`, issuer === null ? null : `iss ${issuer}`]
    .filter((p) => p !== null)
    .join(' / ') || '-';

/** One table of the report, format-neutral: each renderer escapes the cells its own way. */
export type Cell = string | number | null;
export interface TableData {
  readonly columns: string[];
  readonly rows: Cell[][];
}

export function refusalsTable(r: IncidentReport): TableData {
  return {
    columns: ['Identity', 'Action', 'Result', 'Reason', 'Count', 'First', 'Last', 'Client addresses'],
    rows: r.refusals.map((g) => [
      who(g.issuer, g.subject, g.userName),
      g.action,
      g.result,
      g.reason,
      g.count,
      g.firstTime,
      g.lastTime,
      g.clientAddresses.join(', '),
    ]),
  };
}

export function adminChangesTable(r: IncidentReport): TableData {
  return {
    columns: ['Seq', 'Time', 'Action', 'Result', 'Identity', 'Key', 'Object', 'Client address', 'Reason'],
    rows: r.adminChanges.map((a) => [
      a.seq,
      a.time,
      a.action,
      a.result,
      who(a.issuer, a.subject, a.userName),
      a.keyName === null ? null : `${a.keyName}${a.keyVersion === null ? '' : ` v${a.keyVersion}`}`,
      a.objectId,
      a.clientAddress,
      a.reason,
    ]),
  };
}

export function subjectsTable(r: IncidentReport): TableData {
  return {
    columns: [
      'Subject',
      'Issuer',
      'User names',
      'Records',
      'Releases',
      'Refusals',
      'Addresses',
      'Baseline releases',
      'Baseline median/day',
    ],
    rows: r.subjects.map((s) => [
      s.subject,
      s.issuer,
      s.userNames.join(', '),
      s.records,
      s.releases,
      s.refusals,
      s.clientAddresses,
      s.baselineReleases,
      s.baselineMedianPerDay,
    ]),
  };
}

export function outliersTable(r: IncidentReport): TableData {
  return {
    columns: ['Subject', 'Issuer', 'Kind', 'Why'],
    rows: r.outliers.map((o) => [o.subject, o.issuer, o.kind, outlierText(o)]),
  };
}
