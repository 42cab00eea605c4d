/**
 * From the holders' shares to the keys of one object (docs/format.md §5). The content key needs every
 * share: a holder (or a thief of one holder's key) that lacks any one share learns nothing of it.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { DkeError } from '../errors/index.js';
import { LABELS, SHARE_LENGTH } from './constants.js';

export interface ObjectKeys {
  readonly payloadKey: Buffer;
  readonly macKey: Buffer;
  readonly commitment: Buffer;
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'ascii'), 32));
}

/** content_key = HKDF-SHA-256(IKM = share_1 || ... || share_n, salt = object id, info = label). */
export function deriveObjectKeys(shares: readonly Uint8Array[], objectId: Uint8Array): ObjectKeys {
  if (shares.some((share) => share.length !== SHARE_LENGTH)) {
    throw new DkeError('ERR_INTERNAL', { detail: 'every share must be 32 bytes' });
  }
  const contentKey = hkdf(Buffer.concat(shares), objectId, LABELS.contentKey);
  try {
    return {
      payloadKey: hkdf(contentKey, objectId, LABELS.payloadKey),
      macKey: hkdf(contentKey, objectId, LABELS.macKey),
      commitment: hkdf(contentKey, objectId, LABELS.commitment),
    };
  } finally {
    contentKey.fill(0);
  }
}

export function headerMac(macKey: Uint8Array, authenticatedBytes: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update(authenticatedBytes).digest();
}

/** Constant-time check of commitment and MAC; both failures are the same vague error. */
export function verifyHeaderKeys(
  keys: ObjectKeys,
  commitment: Buffer,
  authenticatedBytes: Uint8Array,
  mac: Buffer,
): void {
  const commitmentOk = timingSafeEqual(keys.commitment, commitment);
  const macOk = timingSafeEqual(headerMac(keys.macKey, authenticatedBytes), mac);
  if (!commitmentOk || !macOk) {
    throw new DkeError('ERR_DECRYPTION_FAILED', {
      detail: commitmentOk ? 'header MAC mismatch' : 'key commitment mismatch',
    });
  }
}
