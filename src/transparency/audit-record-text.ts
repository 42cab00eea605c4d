/**
 * The canonical text of an OpenDKE audit record (docs/audit.md, "Hash chain"), read back strictly by a
 * verifier that has nothing but the text: a receipt's `extra`, a proof bundle. Pure: no store, no network.
 *
 *   ["opendke.audit.v1", seq, time, prevHash, action, result, reason, issuer, subject, userName,
 *    keyName, keyVersion, keyId, objectId, clientAddress, requestId]
 *
 * Only the one canonical spelling is accepted: the array must have exactly 16 members of the documented
 * types, and re-serializing it with JSON.stringify (RFC 8785 for these values) must give the same text,
 * byte for byte. So whitespace, `1.0`, `\u0061`, a different member order or anything else that would
 * hash differently from what the log hashed is refused rather than interpreted.
 */
import { invalid, wellFormedText } from './encoding.js';

export const AUDIT_RECORD_DOMAIN = 'opendke.audit.v1';
/** Far above the longest record the log writes (text fields are cut to 1024 characters). */
export const MAX_AUDIT_RECORD_BYTES = 64 * 1024;

const RESULTS = ['allowed', 'denied', 'failed', 'ok'] as const;
export type AuditRecordResult = (typeof RESULTS)[number];

/** The fields of one record, as hashed (absent fields are null, as in the canonical text). */
export interface AuditRecordFields {
  readonly seq: number;
  readonly time: string;
  readonly prevHash: string;
  readonly action: string;
  readonly result: AuditRecordResult;
  readonly reason: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly userName: string | null;
  readonly keyName: string | null;
  readonly keyVersion: number | null;
  readonly keyId: string | null;
  readonly objectId: string | null;
  readonly clientAddress: string | null;
  readonly requestId: string | null;
}

const NAMES = [
  'seq',
  'time',
  'prevHash',
  'action',
  'result',
  'reason',
  'issuer',
  'subject',
  'userName',
  'keyName',
  'keyVersion',
  'keyId',
  'objectId',
  'clientAddress',
  'requestId',
] as const;

/** ISO-8601 UTC with milliseconds, as Date.prototype.toISOString writes it (4-digit years). */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HASH_HEX = /^[0-9a-f]{64}$/;

function isWholeNumber(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

/** A stored text field: a string without lone surrogates (the log stores valid UTF-8 only), or null. */
function isOptionalText(value: unknown): value is string | null {
  return value === null || (typeof value === 'string' && !/\p{Surrogate}/u.test(value));
}

/**
 * Parses the canonical text of an audit record (a string or its UTF-8 bytes). Throws ERR_PROOF_INVALID
 * with a public message naming the rule that failed; the input is never echoed.
 */
export function parseAuditRecordText(text: string | Uint8Array): AuditRecordFields {
  const whole = wellFormedText(text, 'audit record', MAX_AUDIT_RECORD_BYTES);
  if (typeof text === 'string' && Buffer.byteLength(whole, 'utf8') > MAX_AUDIT_RECORD_BYTES) {
    throw invalid('audit record is too large');
  }
  let value: unknown;
  try {
    value = JSON.parse(whole);
  } catch {
    throw invalid('audit record is not JSON');
  }
  if (!Array.isArray(value)) throw invalid('audit record is not a JSON array');
  const array = value as unknown[];
  if (array.length !== 1 + NAMES.length) throw invalid('audit record does not have 16 members');
  if (array[0] !== AUDIT_RECORD_DOMAIN) throw invalid('audit record is not an opendke.audit.v1 record');
  const [, seq, time, prevHash, action, result, ...rest] = array;
  const [reason, issuer, subject, userName, keyName, keyVersion, keyId, objectId, clientAddress, requestId] =
    rest;
  if (!isWholeNumber(seq, 1)) throw invalid('audit record seq is not a whole number from 1');
  if (typeof time !== 'string' || !TIME.test(time) || Number.isNaN(Date.parse(time))) {
    throw invalid('audit record time is not an ISO-8601 UTC time with milliseconds');
  }
  if (typeof prevHash !== 'string' || !HASH_HEX.test(prevHash)) {
    throw invalid('audit record prevHash is not 64 lowercase hex digits');
  }
  if (typeof action !== 'string' || action === '' || /\p{Surrogate}/u.test(action)) {
    throw invalid('audit record action is not a non-empty string');
  }
  if (typeof result !== 'string' || !(RESULTS as readonly string[]).includes(result)) {
    throw invalid('audit record result is not allowed, denied, failed or ok');
  }
  if (keyVersion !== null && !isWholeNumber(keyVersion, 0)) {
    throw invalid('audit record keyVersion is not a whole number or null');
  }
  const texts = { reason, issuer, subject, userName, keyName, keyId, objectId, clientAddress, requestId };
  for (const [name, field] of Object.entries(texts)) {
    if (!isOptionalText(field)) throw invalid(`audit record ${name} is not a string or null`);
  }
  // One spelling per record: anything JSON.stringify would write differently hashes differently.
  if (JSON.stringify(array) !== whole) throw invalid('audit record is not in canonical form');
  return {
    seq,
    time,
    prevHash,
    action,
    result: result as AuditRecordResult,
    ...(texts as Record<keyof typeof texts, string | null>),
    keyVersion,
  };
}
