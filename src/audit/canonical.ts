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

/** Reused by chainAndLeafHash: 0x00 then the text's UTF-8 bytes (grown for a longer record). */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);

/** 0x00 || UTF-8(text), in the reused buffer (valid until the next call). */
function leafInput(canonicalText: string): Buffer {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes; only a long record needs its exact length.
  if (1 + 3 * canonicalText.length > scratch.length) {
    const needed = 1 + Buffer.byteLength(canonicalText, 'utf8');
    if (needed > scratch.length) scratch = Buffer.allocUnsafeSlow(needed);
  }
  scratch[0] = 0x00;
  return scratch.subarray(0, 1 + scratch.write(canonicalText, 1, 'utf8'));
}

/** A record's RFC 6962 leaf hash, SHA-256(0x00 || UTF-8 canonical text) (docs/audit.md "Merkle tree"). */
export function auditLeafHash(canonicalText: string): Buffer {
  const entry = leafInput(canonicalText);
  return typeof crypto.hash === 'function'
    ? Buffer.from(crypto.hash('sha256', entry, 'binary'), 'latin1')
    : crypto.createHash('sha256').update(entry).digest();
}

/**
 * One record's chain hash (hex) and Merkle leaf hash (SHA-256(0x00 || text), RFC 6962) from its canonical
 * text, encoding the text once into a reused buffer: verify() does this for every record. (crypto.hash
 * with 'buffer' output allocates outside Node's pool; binary (latin1) text copied into a pooled Buffer is faster.)
 */
export function chainAndLeafHash(canonicalText: string): [chainHash: string, leafHash: Buffer] {
  const entry = leafInput(canonicalText);
  const text = entry.subarray(1);
  if (typeof crypto.hash === 'function') {
    return [
      crypto.hash('sha256', text, 'hex'),
      Buffer.from(crypto.hash('sha256', entry, 'binary'), 'latin1'),
    ];
  }
  return [
    crypto.createHash('sha256').update(text).digest('hex'),
    crypto.createHash('sha256').update(entry).digest(),
  ];
}

export function auditRecordHash(fields: HashedFields): string {
  return sha256Hex(canonicalAuditText(fields));
}
