/**
 * Builds the incident report in one pass over the records (seq order), in memory bounded by the row caps
 * and the number of distinct subjects, never by the number of records. Pure: no I/O, no clock unless
 * `generatedAt` is absent. The outlier rules are documented in docs/audit.md "Incident report".
 */
import type {
  AdminChange,
  IncidentReport,
  IntegrityStatement,
  Outlier,
  RefusalGroup,
  ReleaseEvent,
  ReleaseGroup,
  ReportFilter,
  ReportOptions,
  ReportRecord,
  SubjectVolume,
} from './types.js';
import { isReleaseAction, REFUSAL_RESULTS, RELEASE_RESULT } from '../audit/release-rules.js';

export const REPORT_DEFAULTS = {
  maxRows: 1000,
  baselineDays: 30,
  rateFactor: 5,
  rateMinimum: 20,
} as const;

const DAY_MS = 86_400_000;
const ADMIN_ACTION = /^(key|admin|cli)\./;
const READ_ONLY_ACTION = /\.(list|get|query|verify)$/;
const MAX_LISTED = 5;
/** Distinct client addresses tracked per subject and period; beyond it, addresses are not told apart. */
export const MAX_ADDRESSES_PER_SUBJECT = 1000;

export const isRelease = (r: ReportRecord): boolean =>
  isReleaseAction(r.action) && r.result === RELEASE_RESULT;
export const isRefusal = (r: ReportRecord): boolean => REFUSAL_RESULTS.includes(r.result);
export const isAdminChange = (r: ReportRecord): boolean =>
  ADMIN_ACTION.test(r.action) && !READ_ONLY_ACTION.test(r.action);

/** The earliest record time the report needs: the start of the baseline. Read records from there on. */
export function reportReadsFrom(filter: ReportFilter, options: ReportOptions = {}): string {
  const days = options.baselineDays ?? REPORT_DEFAULTS.baselineDays;
  return new Date(parseTime(filter.since, 'since') - days * DAY_MS).toISOString();
}

interface IdentityAggregate {
  readonly objectId: string | null;
  readonly keyName: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly userName: string | null;
  count: number;
  firstTime: string;
  lastTime: string;
  readonly events: ReleaseEvent[];
}

interface RefusalAggregate extends Omit<RefusalGroup, 'count' | 'lastTime' | 'clientAddresses'> {
  count: number;
  lastTime: string;
  readonly clientAddresses: string[];
}

interface SubjectState {
  readonly issuer: string | null;
  readonly subject: string;
  readonly baselineDayReleases: number[];
  baselineReleases: number;
  baselineRecords: number;
  /** Bit h set: the subject had a record at hour h in the baseline. */
  baselineHours: number;
  readonly baselineAddresses: Set<string>;
  /** More than MAX_ADDRESSES_PER_SUBJECT in the baseline: "new address" cannot be decided. */
  baselineAddressesOverflow: boolean;
  readonly userNames: string[];
  records: number;
  releases: number;
  refusals: number;
  firstTime: string;
  readonly addresses: Map<string, { firstTime: string; records: number }>;
  readonly releaseHours: number[];
}

export async function buildIncidentReport(
  records: AsyncIterable<ReportRecord> | Iterable<ReportRecord>,
  filter: ReportFilter,
  integrity: IntegrityStatement,
  options: ReportOptions = {},
): Promise<IncidentReport> {
  const maxRows = positive(options.maxRows ?? REPORT_DEFAULTS.maxRows, 'maxRows');
  const baselineDays = positive(options.baselineDays ?? REPORT_DEFAULTS.baselineDays, 'baselineDays');
  if (!Number.isSafeInteger(baselineDays)) throw new RangeError('baselineDays must be a whole number');
  const rateFactor = positive(options.rateFactor ?? REPORT_DEFAULTS.rateFactor, 'rateFactor');
  const rateMinimum = positive(options.rateMinimum ?? REPORT_DEFAULTS.rateMinimum, 'rateMinimum');
  const since = parseTime(filter.since, 'since');
  const until = parseTime(filter.until, 'until');
  if (until <= since) throw new RangeError('until must be after since');
  const baselineStart = since - baselineDays * DAY_MS;
  const timezone = filter.timezone ?? 'UTC';
  const hourOf = hourFunction(timezone);

  const identities = new Map<string, IdentityAggregate>();
  const refusals = new Map<string, RefusalAggregate>();
  const adminChanges: AdminChange[] = [];
  const subjects = new Map<string, SubjectState>();
  const totals = { records: 0, releases: 0, refusals: 0, adminChanges: 0, unverifiedRecords: 0 };
  const truncated = {
    releaseRecordsWithoutIdentityRow: 0,
    releaseEvents: 0,
    refusalRecords: 0,
    adminChanges: 0,
  };
  let listedEvents = 0;

  for await (const r of records) {
    if (filter.keyName !== undefined && r.keyName !== filter.keyName) continue;
    if (filter.objectId !== undefined && r.objectId !== filter.objectId) continue;
    if (filter.subject !== undefined && r.subject !== filter.subject) continue;
    const t = Date.parse(r.time);
    if (!(t >= baselineStart && t < until)) continue;
    const subject = subjectState(subjects, r, baselineDays);

    if (t < since) {
      if (subject === undefined) continue;
      subject.baselineRecords += 1;
      subject.baselineHours |= 1 << hourOf(t);
      if (r.clientAddress != null && !subject.baselineAddresses.has(r.clientAddress)) {
        if (subject.baselineAddresses.size < MAX_ADDRESSES_PER_SUBJECT)
          subject.baselineAddresses.add(r.clientAddress);
        else subject.baselineAddressesOverflow = true;
      }
      if (isRelease(r)) {
        subject.baselineReleases += 1;
        const day = Math.floor((t - baselineStart) / DAY_MS);
        subject.baselineDayReleases[day] = (subject.baselineDayReleases[day] ?? 0) + 1;
      }
      continue;
    }

    totals.records += 1;
    if (r.seq > integrity.size) totals.unverifiedRecords += 1;
    const release = isRelease(r);
    if (subject !== undefined) {
      if (subject.records === 0) subject.firstTime = r.time;
      subject.records += 1;
      if (
        r.userName != null &&
        !subject.userNames.includes(r.userName) &&
        subject.userNames.length < MAX_LISTED
      )
        subject.userNames.push(r.userName);
      if (r.clientAddress != null) {
        const seen = subject.addresses.get(r.clientAddress);
        if (seen !== undefined) seen.records += 1;
        else if (subject.addresses.size < MAX_ADDRESSES_PER_SUBJECT)
          subject.addresses.set(r.clientAddress, { firstTime: r.time, records: 1 });
      }
      if (isRefusal(r)) subject.refusals += 1;
      if (release) {
        subject.releases += 1;
        const hour = hourOf(t);
        subject.releaseHours[hour] = (subject.releaseHours[hour] ?? 0) + 1;
      }
    }

    if (release) {
      totals.releases += 1;
      const key = [r.objectId, r.keyName, r.issuer, r.subject, r.userName]
        .map((v) => v ?? '\u0000')
        .join('\u0001');
      let identity = identities.get(key);
      if (identity === undefined && identities.size < maxRows) {
        identity = {
          objectId: r.objectId ?? null,
          keyName: r.keyName ?? null,
          issuer: r.issuer ?? null,
          subject: r.subject ?? null,
          userName: r.userName ?? null,
          count: 0,
          firstTime: r.time,
          lastTime: r.time,
          events: [],
        };
        identities.set(key, identity);
      }
      if (identity === undefined) {
        truncated.releaseRecordsWithoutIdentityRow += 1;
        truncated.releaseEvents += 1;
      } else {
        identity.count += 1;
        identity.lastTime = r.time;
        if (listedEvents < maxRows) {
          listedEvents += 1;
          identity.events.push({
            seq: r.seq,
            time: r.time,
            keyVersion: r.keyVersion ?? null,
            clientAddress: r.clientAddress ?? null,
            requestId: r.requestId ?? null,
          });
        } else truncated.releaseEvents += 1;
      }
    } else if (isRefusal(r)) {
      totals.refusals += 1;
      const key = [r.issuer, r.subject, r.userName, r.action, r.result, r.reason]
        .map((v) => v ?? '\u0000')
        .join('\u0001');
      let group = refusals.get(key);
      if (group === undefined && refusals.size < maxRows) {
        group = {
          issuer: r.issuer ?? null,
          subject: r.subject ?? null,
          userName: r.userName ?? null,
          action: r.action,
          result: r.result,
          reason: r.reason ?? null,
          count: 0,
          firstTime: r.time,
          lastTime: r.time,
          clientAddresses: [],
        };
        refusals.set(key, group);
      }
      if (group === undefined) truncated.refusalRecords += 1;
      else {
        group.count += 1;
        group.lastTime = r.time;
        const address = r.clientAddress;
        if (
          address != null &&
          group.clientAddresses.length < MAX_LISTED &&
          !group.clientAddresses.includes(address)
        )
          group.clientAddresses.push(address);
      }
    }
    if (isAdminChange(r)) {
      totals.adminChanges += 1;
      if (adminChanges.length < maxRows) adminChanges.push(adminChange(r));
      else truncated.adminChanges += 1;
    }
  }

  const windowDays = (until - since) / DAY_MS;
  const active = [...subjects.values()].filter((s) => s.records > 0).sort(bySubject);
  const outliers = active.flatMap((s) => subjectOutliers(s, { windowDays, rateFactor, rateMinimum }));
  const volumes = active
    .map((s) => subjectVolume(s))
    .sort((a, b) => b.releases - a.releases || b.records - a.records || bySubject(a, b));
  const truncatedSubjects = Math.max(0, volumes.length - maxRows);
  const truncatedCounts = {
    ...truncated,
    subjects: truncatedSubjects,
    outliers: Math.max(0, outliers.length - maxRows),
  };

  return {
    schema: 'opendke.incident-report',
    version: 1,
    generatedAt: options.generatedAt ?? new Date().toISOString(),
    filter: {
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      keyName: filter.keyName ?? null,
      objectId: filter.objectId ?? null,
      subject: filter.subject ?? null,
      timezone,
    },
    baseline: {
      since: new Date(baselineStart).toISOString(),
      until: new Date(since).toISOString(),
      days: baselineDays,
    },
    rules: { rateFactor, rateMinimum, maxRows },
    integrity,
    totals: { ...totals, subjects: active.length },
    releases: releaseGroups([...identities.values()]),
    refusals: [...refusals.values()].sort(
      (a, b) => b.count - a.count || compareText(a.firstTime, b.firstTime),
    ),
    adminChanges,
    subjects: volumes.slice(0, maxRows),
    outliers: outliers.slice(0, maxRows),
    truncated: { any: Object.values(truncatedCounts).some((n) => n > 0), ...truncatedCounts },
  };
}

function subjectState(
  subjects: Map<string, SubjectState>,
  r: ReportRecord,
  baselineDays: number,
): SubjectState | undefined {
  if (r.subject == null) return undefined;
  const key = `${r.issuer ?? ''}\u0001${r.subject}`;
  let state = subjects.get(key);
  if (state === undefined) {
    state = {
      issuer: r.issuer ?? null,
      subject: r.subject,
      baselineDayReleases: new Array<number>(baselineDays).fill(0),
      baselineReleases: 0,
      baselineRecords: 0,
      baselineHours: 0,
      baselineAddresses: new Set(),
      baselineAddressesOverflow: false,
      userNames: [],
      records: 0,
      releases: 0,
      refusals: 0,
      firstTime: '',
      addresses: new Map(),
      releaseHours: new Array<number>(24).fill(0),
    };
    subjects.set(key, state);
  }
  return state;
}

function subjectVolume(s: SubjectState): SubjectVolume {
  return {
    issuer: s.issuer,
    subject: s.subject,
    userNames: s.userNames,
    records: s.records,
    releases: s.releases,
    refusals: s.refusals,
    clientAddresses: s.addresses.size,
    baselineReleases: s.baselineReleases,
    baselineMedianPerDay: median(s.baselineDayReleases),
  };
}

function subjectOutliers(
  s: SubjectState,
  rules: { windowDays: number; rateFactor: number; rateMinimum: number },
): Outlier[] {
  const who = { issuer: s.issuer, subject: s.subject };
  if (s.baselineRecords === 0) {
    return [{ ...who, kind: 'new-subject', firstTime: s.firstTime, records: s.records }];
  }
  const found: Outlier[] = [];
  const baselineMedianPerDay = median(s.baselineDayReleases);
  const expected = round(baselineMedianPerDay * rules.windowDays);
  if (s.releases >= rules.rateMinimum && s.releases > rules.rateFactor * expected) {
    found.push({
      ...who,
      kind: 'rate',
      releases: s.releases,
      baselineMedianPerDay,
      expected,
      factor: rules.rateFactor,
      minimum: rules.rateMinimum,
    });
  }
  for (const [clientAddress, use] of s.baselineAddressesOverflow ? [] : s.addresses) {
    if (!s.baselineAddresses.has(clientAddress))
      found.push({
        ...who,
        kind: 'new-address',
        clientAddress,
        firstTime: use.firstTime,
        records: use.records,
      });
  }
  const baselineHours = [...Array(24).keys()].filter((h) => (s.baselineHours & (1 << h)) !== 0);
  s.releaseHours.forEach((releases, hour) => {
    if (releases > 0 && (s.baselineHours & (1 << hour)) === 0)
      found.push({ ...who, kind: 'unusual-hour', hour, releases, baselineHours });
  });
  return found;
}

function releaseGroups(identities: IdentityAggregate[]): ReleaseGroup[] {
  const groups = new Map<
    string,
    { objectId: string | null; keyName: string | null; members: IdentityAggregate[] }
  >();
  for (const identity of identities) {
    const key = `${identity.objectId ?? '\u0000'}\u0001${identity.keyName ?? '\u0000'}`;
    const group = groups.get(key) ?? { objectId: identity.objectId, keyName: identity.keyName, members: [] };
    group.members.push(identity);
    groups.set(key, group);
  }
  return [...groups.values()]
    .sort(
      (a, b) =>
        compareText(a.objectId ?? '', b.objectId ?? '') || compareText(a.keyName ?? '', b.keyName ?? ''),
    )
    .map(({ objectId, keyName, members }) => ({
      objectId,
      keyName,
      count: members.reduce((sum, m) => sum + m.count, 0),
      identities: members
        .sort((a, b) => compareText(a.firstTime, b.firstTime))
        .map(({ issuer, subject, userName, count, firstTime, lastTime, events }) => ({
          issuer,
          subject,
          userName,
          count,
          firstTime,
          lastTime,
          events,
        })),
    }));
}

function adminChange(r: ReportRecord): AdminChange {
  return {
    seq: r.seq,
    time: r.time,
    action: r.action,
    result: r.result,
    reason: r.reason ?? null,
    issuer: r.issuer ?? null,
    subject: r.subject ?? null,
    userName: r.userName ?? null,
    keyName: r.keyName ?? null,
    keyVersion: r.keyVersion ?? null,
    objectId: r.objectId ?? null,
    clientAddress: r.clientAddress ?? null,
    requestId: r.requestId ?? null,
  };
}

/** The hour (0-23) of an instant in `timezone`; validates the zone now (RangeError). */
export function hourFunction(timezone: string): (ms: number) => number {
  if (timezone === 'UTC') return (ms) => new Date(ms).getUTCHours();
  const format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hour: 'numeric', hourCycle: 'h23' });
  // Offsets are whole quarter hours, and records arrive in time order: remember the last quarter hour.
  let lastQuarter = Number.NaN;
  let lastHour = 0;
  return (ms) => {
    const quarter = Math.floor(ms / 900_000);
    if (quarter !== lastQuarter) {
      lastQuarter = quarter;
      lastHour = Number(format.format(new Date(ms))) % 24;
    }
    return lastHour;
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const bySubject = (
  a: { issuer: string | null; subject: string },
  b: { issuer: string | null; subject: string },
): number => compareText(a.issuer ?? '', b.issuer ?? '') || compareText(a.subject, b.subject);

function parseTime(value: string, name: string): number {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new RangeError(`${name} must be an ISO-8601 date or time`);
  return t;
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number`);
  return value;
}
