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
