/**
 * What a remote holder does with the audit receipt of an unwrap answer (docs/audit.md, "Verifying receipts
 * and proofs offline"; the `receipt` member, docs/protocol.md). With pinned log keys, a receipt that is
 * present must verify (else the service is misbehaving and its share is refused); a missing one is refused
 * only when receipts are required. Without pinned keys, receipts are not looked at. All of it happens before
 * the share is handed back, so a refused share never decrypts anything.
 */
import { DkeError, isDkeError } from '../errors/index.js';
import {
  parseCheckpointBody,
  parseNote,
  parseTlogProof,
  verifyReceipt,
  type NoteVerifier,
  type VerifiedReceipt,
} from '../transparency/index.js';

/** A verified receipt and what it is the receipt of. */
export interface AcceptedReceipt {
  /** The tlog-proof text, as received. */
  readonly text: string;
  readonly verified: VerifiedReceipt;
  /** The file's object id (base64url) and the stanza's key id the record names. */
  readonly objectId: string;
  readonly keyId: string;
  readonly locator: string;
}

export interface ReceiptPolicy {
  /** Pinned log keys: a receipt must verify under the one whose name is its checkpoint's origin. */
  readonly logVerifiers: readonly NoteVerifier[];
  /** Refuse a share that comes without a receipt. */
  readonly require: boolean;
  /** Called with each verified receipt before its share is used (e.g. to save it); may throw to refuse. */
  readonly onAccepted?: (receipt: AcceptedReceipt) => Promise<void>;
}

/** What the record of an allowed native unwrap of this stanza must say. */
export interface ReceiptSubject {
  readonly locator: string;
  readonly keyId: string;
  readonly objectId: string;
  /** The answer's X-Request-Id, when it has one. */
  readonly requestId?: string;
}

function invalidReceipt(subject: ReceiptSubject, why: string): DkeError {
  return new DkeError('ERR_RECEIPT_INVALID', {
    message: `key service at ${subject.locator} sent an audit receipt that does not verify: ${why}`,
    hint: 'the share was not used: the service did not prove it recorded this release, or --log-vkey is not its log key',
  });
}

/** The checkpoint origin a receipt claims (syntax only), to pick the pinned key of that log. */
function originOf(text: string): string {
  return parseCheckpointBody(parseNote(parseTlogProof(text).checkpointNote).body).origin;
}

/**
 * Applies the policy to an answer's `receipt` member. Returns the accepted receipt, or undefined when
 * there is none and none is required. Throws ERR_RECEIPT_MISSING / ERR_RECEIPT_INVALID.
 */
export async function acceptReceipt(
  policy: ReceiptPolicy,
  receipt: unknown,
  subject: ReceiptSubject,
): Promise<AcceptedReceipt | undefined> {
  if (policy.logVerifiers.length === 0) return undefined;
  if (receipt === undefined) {
    if (!policy.require) return undefined;
    throw new DkeError('ERR_RECEIPT_MISSING', {
      message: `key service at ${subject.locator} sent no audit receipt for key ${subject.keyId}`,
      hint: 'the share was not used (--require-receipt); the service must be configured to issue receipts (audit.log.receipts)',
    });
  }
  if (typeof receipt !== 'string') throw invalidReceipt(subject, 'the receipt member is not text');
  let verified: VerifiedReceipt | undefined;
  let failure = 'its checkpoint is not signed by a pinned log key';
  try {
    const origin = originOf(receipt);
    for (const logVerifier of policy.logVerifiers.filter((v) => v.name === origin)) {
      try {
        verified = verifyReceipt(receipt, {
          logVerifierKey: logVerifier,
          expect: {
            action: 'native.unwrap',
            result: 'allowed',
            keyId: subject.keyId,
            objectId: subject.objectId,
            ...(subject.requestId === undefined ? {} : { requestId: subject.requestId }),
          },
        });
        break;
      } catch (error) {
        if (!isDkeError(error, 'ERR_PROOF_INVALID')) throw error;
        failure = error.message;
      }
    }
  } catch (error) {
    if (!isDkeError(error, 'ERR_PROOF_INVALID')) throw error;
    failure = error.message;
  }
  if (verified === undefined) throw invalidReceipt(subject, failure);
  const accepted: AcceptedReceipt = {
    text: receipt,
    verified,
    objectId: subject.objectId,
    keyId: subject.keyId,
    locator: subject.locator,
  };
  await policy.onAccepted?.(accepted);
  return accepted;
}
