/** The incident report's data (docs/audit.md "Incident report"); renderers turn it into md, json or html. */

/** What the builder reads of an audit record: AuditRecord (absent fields) and AuditRow (null fields) both fit. */
export interface ReportRecord {
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly result: string;
  readonly reason?: string | null;
  readonly issuer?: string | null;
  readonly subject?: string | null;
  readonly userName?: string | null;
  readonly keyName?: string | null;
  readonly keyVersion?: number | null;
  readonly objectId?: string | null;
  readonly clientAddress?: string | null;
  readonly requestId?: string | null;
}

/**
 * What the log's own verification established. Hashes are lower-case hex. The checkpoint and cosignature
 * fields stay empty while the log has no persisted signed checkpoint ("no signed checkpoint available").
 */
export interface IntegrityStatement {
  readonly verified: boolean;
  /** Records verified (the first `size` records, seq 1..size). */
  readonly size: number;
  /** Merkle root of the first `size` records, when the log has one. */
  readonly rootHash?: string;
  /** Hash of record `size` (the hash-chain head). */
  readonly chainHead?: string;
  readonly checkpoint?: {
    readonly origin: string;
    readonly size: number;
    readonly rootHash: string;
    readonly noteText: string;
    readonly signedBy: readonly string[];
  };
  readonly cosignatures?: readonly { readonly witness: string; readonly time: string }[];
  /** The first record that failed verification. */
  readonly firstBroken?: { readonly seq: number; readonly reason: string };
  readonly problems: readonly string[];
}

export interface ReportFilter {
  /** ISO-8601; the window is since <= time < until. */
  readonly since: string;
  readonly until: string;
  readonly keyName?: string;
  readonly objectId?: string;
  readonly subject?: string;
  /** IANA time zone for the unusual-hours rule; default UTC. */
  readonly timezone?: string;
}

export interface ReportOptions {
  /** Most detailed rows per section (release identities, release events, refusal groups, admin changes, subjects). */
  readonly maxRows?: number;
  /** Length of the baseline before `since`, in days. */
  readonly baselineDays?: number;
  /** Rate outlier: releases above rateFactor x the expected count ... */
  readonly rateFactor?: number;
  /** ... and at least this many releases in the window. */
  readonly rateMinimum?: number;
  readonly generatedAt?: string;
}

export interface ReleaseEvent {
  readonly seq: number;
  readonly time: string;
  readonly keyVersion: number | null;
  readonly clientAddress: string | null;
  readonly requestId: string | null;
}

export interface ReleaseIdentity {
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly userName: string | null;
  readonly count: number;
  readonly firstTime: string;
  readonly lastTime: string;
  /** In seq order; fewer than `count` when the report's event cap was reached. */
  readonly events: readonly ReleaseEvent[];
}

export interface ReleaseGroup {
  readonly objectId: string | null;
  readonly keyName: string | null;
  readonly count: number;
  readonly identities: readonly ReleaseIdentity[];
}

export interface RefusalGroup {
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly userName: string | null;
  readonly action: string;
  readonly result: string;
  readonly reason: string | null;
  readonly count: number;
  readonly firstTime: string;
  readonly lastTime: string;
  /** Up to 5 distinct client addresses, first seen first. */
  readonly clientAddresses: readonly string[];
}

export interface AdminChange {
  readonly seq: number;
  readonly time: string;
  readonly action: string;
  readonly result: string;
  readonly reason: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly userName: string | null;
  readonly keyName: string | null;
  readonly keyVersion: number | null;
  readonly objectId: string | null;
  readonly clientAddress: string | null;
  readonly requestId: string | null;
}

export interface SubjectVolume {
  readonly issuer: string | null;
  readonly subject: string;
  /** Up to 5 distinct user names seen in the window. */
  readonly userNames: readonly string[];
  readonly records: number;
  readonly releases: number;
  readonly refusals: number;
  /** Distinct client addresses in the window (counted up to MAX_ADDRESSES_PER_SUBJECT). */
  readonly clientAddresses: number;
  readonly baselineReleases: number;
  readonly baselineMedianPerDay: number;
}

interface OutlierBase {
  readonly issuer: string | null;
  readonly subject: string;
}
export type Outlier =
  | (OutlierBase & {
      readonly kind: 'rate';
      readonly releases: number;
      readonly baselineMedianPerDay: number;
      readonly expected: number;
      readonly factor: number;
      readonly minimum: number;
    })
  | (OutlierBase & {
      readonly kind: 'new-address';
      readonly clientAddress: string;
      readonly firstTime: string;
      readonly records: number;
    })
  | (OutlierBase & {
      readonly kind: 'unusual-hour';
      readonly hour: number;
      readonly releases: number;
      readonly baselineHours: readonly number[];
    })
  | (OutlierBase & { readonly kind: 'new-subject'; readonly firstTime: string; readonly records: number });

export interface IncidentReport {
  readonly schema: 'opendke.incident-report';
  readonly version: 1;
  readonly generatedAt: string;
  readonly filter: {
    readonly since: string;
    readonly until: string;
    readonly keyName: string | null;
    readonly objectId: string | null;
    readonly subject: string | null;
    readonly timezone: string;
  };
  readonly baseline: { readonly since: string; readonly until: string; readonly days: number };
  readonly rules: {
    readonly rateFactor: number;
    readonly rateMinimum: number;
    readonly maxRows: number;
  };
  readonly integrity: IntegrityStatement;
  readonly totals: {
    readonly records: number;
    readonly releases: number;
    readonly refusals: number;
    readonly adminChanges: number;
    readonly subjects: number;
    /** Records in the window past the verified size (appended after verification, or after a break). */
    readonly unverifiedRecords: number;
  };
  readonly releases: readonly ReleaseGroup[];
  readonly refusals: readonly RefusalGroup[];
  readonly adminChanges: readonly AdminChange[];
  readonly subjects: readonly SubjectVolume[];
  readonly outliers: readonly Outlier[];
  /** What the row caps left out (counts of records, or of subjects); all zero: nothing left out. */
  readonly truncated: {
    readonly any: boolean;
    readonly releaseRecordsWithoutIdentityRow: number;
    readonly releaseEvents: number;
    readonly refusalRecords: number;
    readonly adminChanges: number;
    readonly subjects: number;
    readonly outliers: number;
  };
}
