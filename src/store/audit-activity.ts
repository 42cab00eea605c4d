/**
 * The console's Activity aggregation (DkeStore.auditActivity) as one SQL statement both backends run: the
 * records of a time window counted per time bucket and per key (or subject) with GROUP BY, on the
 * `audit_by_time` index, so the page's cost grows with the number of buckets and series, not of records.
 *
 * What counts is src/audit/release-rules.ts, the incident report's definitions, written here in SQL. The
 * store suite pins the two together (it compares this aggregation with buildIncidentReport over the same
 * records, per bucket, key and subject).
 */
import { REFUSAL_RESULTS, RELEASE_ACTIONS, RELEASE_RESULT } from '../audit/release-rules.js';
import type { AuditActivityQuery, AuditActivityRow } from './types.js';

/** SQL string literals of the rules' fixed values (no quotes in them: they are our own action names). */
const literals = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ');
const RELEASE = `(action IN (${literals(RELEASE_ACTIONS)}) AND result = '${RELEASE_RESULT}')`;
const REFUSAL = `(result IN (${literals(REFUSAL_RESULTS)}))`;

/** Characters of the stored time (ISO-8601 UTC, `YYYY-MM-DDTHH:MM:SS.sssZ`) that name the bucket. */
const PREFIX = { hour: 13, day: 10 } as const;
const SUFFIX = { hour: ':00:00.000Z', day: 'T00:00:00.000Z' } as const;
const COLUMN = { keyName: 'key_name', subject: 'subject' } as const;

/** Most named series one call may ask for (the page shows 8). */
const MAX_ACTIVITY_SERIES = 50;

/**
 * The statement; `param(i)` writes the i-th placeholder (1-based: since, until, series): `?` for SQLite,
 * `$i` for PostgreSQL. The columns are bucket prefix, name (null: others), releases, refusals.
 */
export function auditActivitySql(query: AuditActivityQuery, param: (i: number) => string): string {
  const column = COLUMN[query.by];
  return `
    WITH w AS (
      SELECT substr(time, 1, ${PREFIX[query.bucket]}) AS b, ${column} AS name,
             CASE WHEN ${RELEASE} THEN 1 ELSE 0 END AS rel,
             CASE WHEN ${REFUSAL} THEN 1 ELSE 0 END AS ref
      FROM audit_log
      WHERE time >= ${param(1)} AND time < ${param(2)} AND (${RELEASE} OR ${REFUSAL})
    ),
    top_names AS (
      SELECT name FROM w WHERE name IS NOT NULL
      GROUP BY name ORDER BY sum(rel) DESC, sum(ref) DESC, name LIMIT ${param(3)}
    )
    SELECT w.b AS bucket, t.name AS name,
           CAST(sum(w.rel) AS INTEGER) AS releases, CAST(sum(w.ref) AS INTEGER) AS refusals
    FROM w LEFT JOIN top_names t ON t.name = w.name
    GROUP BY w.b, t.name
    ORDER BY w.b, t.name IS NULL, t.name`;
}

/** Rejects a query no caller should build (the console's API validates before); RangeError. */
export function checkActivityQuery(query: AuditActivityQuery): void {
  if (!(query.since < query.until)) throw new RangeError('auditActivity: since must be before until');
  if (!Number.isSafeInteger(query.series) || query.series < 1 || query.series > MAX_ACTIVITY_SERIES)
    throw new RangeError(`auditActivity: series must be 1..${MAX_ACTIVITY_SERIES}`);
  if (!(query.bucket in PREFIX) || !(query.by in COLUMN)) throw new RangeError('auditActivity: bad query');
}

/** A result row as the driver gives it → the contract's row (bucket start as full ISO text). */
export function toActivityRow(
  query: AuditActivityQuery,
  bucket: string,
  name: string | null,
  releases: number | string,
  refusals: number | string,
): AuditActivityRow {
  return {
    bucket: `${bucket}${SUFFIX[query.bucket]}`,
    name,
    releases: Number(releases),
    refusals: Number(refusals),
  };
}
