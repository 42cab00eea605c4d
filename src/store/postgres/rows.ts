/**
 * Column lists and row conversions of the PostgreSQL backend: what the store reads comes back exactly as
 * the SQLite backend returns it (same field names, null for absent fields, numbers for counters and
 * sizes, bigint for witnessed sizes, Buffers for hashes), audit text decoded (./text-codec.ts).
 */
import type { KeyPolicy } from '../../service/contracts.js';
import { canonicalAuditText } from '../../audit/canonical.js';
import type {
  AuditChainLink,
  AuditRow,
  KeyRecord,
  KeyVersionRecord,
  SecurityEventRow,
  WitnessedLog,
} from '../types.js';
import { decodeText, encodeText } from './text-codec.js';
import { parseStoredPolicy } from '../stored-policy.js';

export const KEY_COLUMNS = `k.name, k.protocol, k.state, k.active_version AS "activeVersion",
  k.cache_seconds AS "cacheSeconds", k.created_at AS "createdAt", k.updated_at AS "updatedAt", p.policy`;
export const KEY_FROM = 'keys k JOIN key_policies p ON p.key_name = k.name';
export const VERSION_COLUMNS = `key_name AS "keyName", version, key_id AS "keyId", spec, public_jwk AS "publicJwk",
  sealed_private_key AS "sealedPrivateKey", token_ref AS "tokenRef", created_at AS "createdAt",
  destroyed_at AS "destroyedAt"`;
export const SECURITY_EVENT_COLUMNS = `window_start AS "windowStart", client_address AS "clientAddress", reason,
  issuer, subject, count, first_seen AS "firstSeen", last_seen AS "lastSeen"`;
export const CHECKPOINT_COLUMNS = 'size, root, note, created_at AS "createdAt"';
export const COSIGNATURE_COLUMNS =
  'size, witness_name AS "witnessName", key_hash AS "keyHash", line, timestamp';

/** The audit columns in canonical order (src/audit/canonical.ts), for array rows. */
export const AUDIT_COLUMNS = `seq, time, prev_hash, hash, action, result, reason, issuer, subject, user_name,
  key_name, key_version, key_id, object_id, client_address, request_id`;

export type AuditArrayRow = [
  seq: number,
  time: string,
  prevHash: string,
  hash: string,
  action: string,
  result: string,
  reason: string | null,
  issuer: string | null,
  subject: string | null,
  userName: string | null,
  keyName: string | null,
  keyVersion: number | null,
  keyId: string | null,
  objectId: string | null,
  clientAddress: string | null,
  requestId: string | null,
];

export function toAuditRow(r: AuditArrayRow): AuditRow {
  return {
    seq: r[0],
    time: decodeText(r[1]),
    prevHash: decodeText(r[2]),
    hash: decodeText(r[3]),
    action: decodeText(r[4]),
    result: decodeText(r[5]),
    reason: decodeText(r[6]),
    issuer: decodeText(r[7]),
    subject: decodeText(r[8]),
    userName: decodeText(r[9]),
    keyName: decodeText(r[10]),
    keyVersion: r[11],
    keyId: decodeText(r[12]),
    objectId: decodeText(r[13]),
    clientAddress: decodeText(r[14]),
    requestId: decodeText(r[15]),
  };
}

/** A record as verify() reads it; its canonical text is built here exactly as canonicalAuditText does. */
export function toChainLink(r: AuditArrayRow): AuditChainLink {
  const row = toAuditRow(r);
  return [row.hash, row.seq, row.prevHash, canonicalAuditText(row)];
}

/** The audit rows of one append as column arrays, for one multi-row INSERT ... SELECT FROM unnest(...). */
export function auditColumnArrays(rows: readonly AuditRow[]): unknown[][] {
  const text = (value: string | null): string | null => encodeText(value);
  return [
    rows.map((r) => r.seq),
    rows.map((r) => text(r.time)),
    rows.map((r) => text(r.prevHash)),
    rows.map((r) => text(r.hash)),
    rows.map((r) => text(r.action)),
    rows.map((r) => text(r.result)),
    rows.map((r) => text(r.reason)),
    rows.map((r) => text(r.issuer)),
    rows.map((r) => text(r.subject)),
    rows.map((r) => text(r.userName)),
    rows.map((r) => text(r.keyName)),
    rows.map((r) => r.keyVersion),
    rows.map((r) => text(r.keyId)),
    rows.map((r) => text(r.objectId)),
    rows.map((r) => text(r.clientAddress)),
    rows.map((r) => text(r.requestId)),
  ];
}

export const AUDIT_UNNEST = `unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::text[], $14::text[],
  $15::text[], $16::text[])`;

export type KeyRow = Omit<KeyRecord, 'policy'> & { policy: string };

export function toKeyRecord(row: KeyRow): KeyRecord {
  return {
    name: row.name,
    protocol: row.protocol,
    state: row.state,
    activeVersion: row.activeVersion,
    cacheSeconds: row.cacheSeconds,
    policy: parseStoredPolicy(row.policy, row.name),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toVersionRecord(row: KeyVersionRecord): KeyVersionRecord {
  return {
    keyName: row.keyName,
    version: row.version,
    keyId: row.keyId,
    spec: row.spec,
    publicJwk: row.publicJwk,
    sealedPrivateKey: row.sealedPrivateKey,
    tokenRef: row.tokenRef ?? null,
    createdAt: row.createdAt,
    destroyedAt: row.destroyedAt,
  };
}

export interface WitnessedLogRow {
  readonly origin: string;
  /** Read as text (`size::text`): sizes go up to 2^63 - 1, beyond a JS number. */
  readonly size: string;
  readonly root: Buffer;
  readonly updatedAt: string;
}

export function toWitnessedLog(row: WitnessedLogRow): WitnessedLog {
  return { origin: row.origin, size: BigInt(row.size), root: row.root, updatedAt: row.updatedAt };
}

export function emptyPolicy(): KeyPolicy {
  return { users: [], groups: [], roles: [], tenants: [] };
}

/** Security-event rows with the same key summed (one statement cannot update a row twice), in key order
 * (instances then lock rows in one order). */
export function mergeSecurityEvents(rows: readonly SecurityEventRow[]): SecurityEventRow[] {
  const merged = new Map<string, SecurityEventRow>();
  for (const row of rows) {
    const key = JSON.stringify([row.windowStart, row.clientAddress, row.reason, row.issuer, row.subject]);
    const seen = merged.get(key);
    merged.set(
      key,
      seen === undefined
        ? row
        : {
            ...seen,
            count: seen.count + row.count,
            firstSeen: row.firstSeen < seen.firstSeen ? row.firstSeen : seen.firstSeen,
            lastSeen: row.lastSeen > seen.lastSeen ? row.lastSeen : seen.lastSeen,
          },
    );
  }
  return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

/** A security-event row as read, its text decoded (./text-codec.ts). */
export function decodeSecurityEvent(row: SecurityEventRow): SecurityEventRow {
  const text = (value: string): string => decodeText(value);
  return {
    windowStart: text(row.windowStart),
    clientAddress: text(row.clientAddress),
    reason: text(row.reason),
    issuer: text(row.issuer),
    subject: text(row.subject),
    count: row.count,
    firstSeen: text(row.firstSeen),
    lastSeen: text(row.lastSeen),
  };
}
