/**
 * The canonical encoding of an audit record and its hash (docs/audit.md "Hash chain"), specified so an
 * independent verifier can recompute every hash:
 *
 *   hash = lowercase hex SHA-256 of the UTF-8 bytes of the JSON array
 *     ["opendke.audit.v1", seq, time, prevHash, action, result, reason, issuer, subject, userName,
 *      keyName, keyVersion, keyId, objectId, clientAddress, requestId]
 *
 * serialized per RFC 8785 (JCS): no whitespace, integers as plain decimals, absent fields as null,
 * strings with only the mandatory JSON escapes (exactly what ECMAScript JSON.stringify produces).
 */
import crypto from 'node:crypto';
import type { AuditRow } from '../store/index.js';

export const AUDIT_HASH_DOMAIN = 'opendke.audit.v1';
/** prevHash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

export type HashedFields = Omit<AuditRow, 'hash'>;

// crypto.hash (Node >= 20.12) is a one-shot hash without the Hash object; verify() calls this a million times.
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

export function canonicalAuditText(f: HashedFields): string {
  return JSON.stringify([
    AUDIT_HASH_DOMAIN,
    f.seq,
    f.time,
    f.prevHash,
    f.action,
    f.result,
    f.reason,
    f.issuer,
    f.subject,
    f.userName,
    f.keyName,
    f.keyVersion,
    f.keyId,
    f.objectId,
    f.clientAddress,
    f.requestId,
  ]);
}

/**
 * One record's chain hash (hex) and Merkle leaf hash (SHA-256(0x00 || text), RFC 6962) from its canonical
 * text, encoding the text once: verify() does this for every record.
 */
export function chainAndLeafHash(canonicalText: string): [chainHash: string, leafHash: Buffer] {
  const bytes = Buffer.allocUnsafe(1 + Buffer.byteLength(canonicalText, 'utf8'));
  bytes[0] = 0x00;
  bytes.write(canonicalText, 1, 'utf8');
  const text = bytes.subarray(1);
  if (typeof crypto.hash === 'function') {
    return [crypto.hash('sha256', text, 'hex'), crypto.hash('sha256', bytes, 'buffer')];
  }
  return [
    crypto.createHash('sha256').update(text).digest('hex'),
    crypto.createHash('sha256').update(bytes).digest(),
  ];
}

export function auditRecordHash(fields: HashedFields): string {
  return sha256Hex(canonicalAuditText(fields));
}
