/**
 * The one path to a private key over HTTP, shared by every protocol adapter:
 *
 *   locate key (unknown → ERR_KEY_NOT_FOUND, before any token work) → authenticate → protocol checks on the
 *   principal → KeyCore.privateKeyFor (state, policy, revocation) → the protocol's private-key operation →
 *   audit.append, awaited until durable → result.
 *
 * Every attempt with a valid token is audited, refusals and failures included. If the audit record cannot be
 * written the request fails closed with ERR_AUDIT_UNAVAILABLE and the operation's result is dropped.
 */
import type { KeyObject } from 'node:crypto';
import { DkeError, isDkeError } from '../errors/index.js';
import { appendOrFail } from './audited-action.js';
import { protocolKey } from './key-lookup.js';
import type {
  AuditEvent,
  AuditLog,
  AuditRecord,
  Authenticator,
  KeyCore,
  KeyInfo,
  KeyProtocol,
  KeyVersionInfo,
  Principal,
} from './contracts.js';
import type { ServiceMetrics } from './metrics.js';

export interface KeyOperation<T> {
  readonly protocol: KeyProtocol;
  /** Audit action, e.g. 'native.unwrap'. */
  readonly action: string;
  readonly keyName: string;
  readonly keyId: string;
  /** The object id the request claims (base64url), checked against the key's revocations. */
  readonly objectId?: string;
  readonly authorization: string | undefined;
  readonly clientAddress: string;
  readonly requestId: string;
  /** Protocol requirements on the caller beyond the key's policy; throws to refuse. */
  readonly admit?: (principal: Principal) => void;
  /**
   * The protocol's private-key operation. `objectId` is the one the operation authenticated (audited in
   * place of the claimed one).
   */
  readonly operate: (
    key: KeyObject,
    version: KeyVersionInfo,
  ) => { value: T; objectId?: string } | Promise<{ value: T; objectId?: string }>;
}

export interface AuditedUnwrap {
  run<T>(operation: KeyOperation<T>): Promise<T>;
  /** `run`, also handing back the committed `allowed` record (for a receipt). */
  runRecorded<T>(operation: KeyOperation<T>): Promise<{ value: T; record: AuditRecord }>;
}

export interface AuditedUnwrapDeps {
  readonly keys: KeyCore;
  readonly audit: AuditLog;
  readonly authenticator: Authenticator;
  readonly metrics: ServiceMetrics;
  /**
   * Conditions every release needs beyond the key's own checks (the fail-closed witness rule); throws to
   * refuse, audited as `denied`.
   */
  readonly releaseGate?: () => void;
}

/** The key and version a request names, if the key exists under the protocol and has that version. */
async function locate(
  keys: KeyCore,
  protocol: KeyProtocol,
  name: string,
  keyId: string,
): Promise<{ key: KeyInfo; version: KeyVersionInfo }> {
  const key = await protocolKey(keys, protocol, name);
  const version = key.versions.find((v) => v.keyId === keyId);
  if (version === undefined)
    throw new DkeError('ERR_KEY_NOT_FOUND', { detail: `${name} has no version ${keyId}` });
  return { key, version };
}

function reasonOf(error: unknown): string {
  return isDkeError(error) ? error.code : 'ERR_INTERNAL';
}

export function createAuditedUnwrap({
  keys,
  audit,
  authenticator,
  metrics,
  releaseGate,
}: AuditedUnwrapDeps): AuditedUnwrap {
  async function record(event: AuditEvent, protocol: KeyProtocol): Promise<AuditRecord> {
    try {
      return await appendOrFail(audit, event);
    } catch (error) {
      metrics.observeUnwrap(protocol, event.keyName, 'audit_unavailable');
      throw error;
    }
  }

  const unwrap: AuditedUnwrap = {
    async run<T>(op: KeyOperation<T>): Promise<T> {
      return (await unwrap.runRecorded(op)).value;
    },
    async runRecorded<T>(op: KeyOperation<T>): Promise<{ value: T; record: AuditRecord }> {
      let key: KeyInfo;
      let named: KeyVersionInfo;
      try {
        ({ key, version: named } = await locate(keys, op.protocol, op.keyName, op.keyId));
      } catch (error) {
        metrics.observeUnwrap(op.protocol, undefined, 'unknown_key');
        throw error;
      }
      let principal: Principal;
      try {
        principal = await authenticator.authenticate(op.authorization);
      } catch (error) {
        metrics.observeUnwrap(op.protocol, key.name, 'unauthenticated');
        throw error;
      }

      const base = {
        action: op.action,
        issuer: principal.issuer,
        subject: principal.subject,
        ...(principal.userName === undefined ? {} : { userName: principal.userName }),
        keyName: key.name,
        keyId: op.keyId,
        keyVersion: named.version,
        ...(op.objectId === undefined ? {} : { objectId: op.objectId }),
        clientAddress: op.clientAddress,
        requestId: op.requestId,
      } satisfies Omit<AuditEvent, 'result'>;

      const refuse = async (result: 'denied' | 'failed', error: unknown): Promise<never> => {
        await record({ ...base, result, reason: reasonOf(error) }, op.protocol);
        metrics.observeUnwrap(op.protocol, key.name, result);
        throw error;
      };

      let granted: { key: KeyObject; version: KeyVersionInfo };
      try {
        op.admit?.(principal);
        releaseGate?.();
        granted = await keys.privateKeyFor(op.keyName, op.keyId, principal, op.objectId);
      } catch (error) {
        return refuse('denied', error);
      }
      let outcome: { value: T; objectId?: string };
      try {
        outcome = await op.operate(granted.key, granted.version);
      } catch (error) {
        return refuse('failed', error);
      }
      const allowed = await record(
        {
          ...base,
          result: 'allowed',
          keyVersion: granted.version.version,
          ...(outcome.objectId === undefined ? {} : { objectId: outcome.objectId }),
        },
        op.protocol,
      );
      metrics.observeUnwrap(op.protocol, key.name, 'allowed');
      return { value: outcome.value, record: allowed };
    },
  };
  return unwrap;
}
