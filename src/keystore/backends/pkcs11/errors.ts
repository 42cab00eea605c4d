/**
 * What a PKCS#11 return value means for the service: the token is lost (reconnect, fail closed until
 * then), the login was refused (never retried with the same PIN: real tokens lock after a few tries),
 * the input does not decrypt (a client error), or something else (an internal error, logged).
 */
import { DkeError } from '../../../errors/index.js';
import { ck, Pkcs11Error } from './binding.js';

export type FailureKind = 'lost' | 'login' | 'input' | 'other';

const LOST = new Set<number>([
  ck.CKR_SESSION_HANDLE_INVALID,
  ck.CKR_SESSION_CLOSED,
  ck.CKR_SESSION_COUNT,
  ck.CKR_DEVICE_REMOVED,
  ck.CKR_DEVICE_ERROR,
  ck.CKR_DEVICE_MEMORY,
  ck.CKR_TOKEN_NOT_PRESENT,
  ck.CKR_TOKEN_NOT_RECOGNIZED,
  ck.CKR_CRYPTOKI_NOT_INITIALIZED,
  ck.CKR_USER_NOT_LOGGED_IN,
  ck.CKR_SLOT_ID_INVALID,
  ck.CKR_GENERAL_ERROR,
]);

const LOGIN = new Set<number>([
  ck.CKR_PIN_INCORRECT,
  ck.CKR_PIN_INVALID,
  ck.CKR_PIN_LEN_RANGE,
  ck.CKR_PIN_EXPIRED,
  ck.CKR_PIN_LOCKED,
]);

const INPUT = new Set<number>([
  ck.CKR_ENCRYPTED_DATA_INVALID,
  ck.CKR_ENCRYPTED_DATA_LEN_RANGE,
  ck.CKR_DATA_INVALID,
  ck.CKR_DATA_LEN_RANGE,
]);

/** The CKR_ name of a binding error, or the error's message for anything else. */
export function describeFailure(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function failureKind(error: unknown): FailureKind {
  if (!(error instanceof Pkcs11Error)) return 'other';
  if (LOST.has(error.code)) return 'lost';
  if (LOGIN.has(error.code)) return 'login';
  if (INPUT.has(error.code)) return 'input';
  return 'other';
}

export function unavailable(detail: string, cause?: unknown, hint?: string): DkeError {
  return new DkeError('ERR_HSM_UNAVAILABLE', {
    detail,
    ...(cause === undefined ? {} : { cause }),
    ...(hint === undefined ? {} : { hint }),
  });
}

/** A binding failure that is neither a lost token nor bad input: an internal error with the CKR_ name. */
export function internal(what: string, cause: unknown): DkeError {
  return new DkeError('ERR_INTERNAL', { detail: `${what}: ${describeFailure(cause)}`, cause });
}
