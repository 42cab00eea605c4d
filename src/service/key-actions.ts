/**
 * The key administration actions, audited, shared by the admin API (bearer tokens) and the console (signed-in
 * users): one code path per change, so every change is validated and audited the same way whoever asks. Each
 * action is recorded `allowed` before it runs and `ok`/`failed` after (src/service/audited-action.ts) under
 * the same action names; a caller without the right is recorded `denied` by `refuse`.
 */
import type { ErrorCode } from '../errors/index.js';
import { DkeError } from '../errors/index.js';
import type { KeySpec } from '../crypto/holder-keys.js';
import type { KeyBackendKind } from '../keystore/backends/operator.js';
import { assertNewKeyName } from '../keystore/validation.js';
import { normalizePolicy } from '../policy/evaluate.js';
import type { AuditLog, KeyAdmin, KeyInfo, KeyPolicy, KeyProtocol } from './contracts.js';
import { appendOrFail, keyTarget, runAudited, type AuditTarget } from './audited-action.js';

/** Who acts, and from where: the audit record's identity fields. */
export interface Actor {
  readonly issuer: string;
  readonly subject: string;
  readonly userName?: string;
  readonly clientAddress: string;
  readonly requestId: string;
}

export interface CreateKeyRequest {
  readonly name: string;
  readonly protocol?: KeyProtocol;
  readonly spec?: KeySpec;
  readonly cacheSeconds?: number;
  readonly policy?: KeyPolicy;
  readonly privateKeyPem?: string;
  readonly backend?: KeyBackendKind;
}

export interface RotateKeyRequest {
  readonly spec?: KeySpec;
  readonly privateKeyPem?: string;
  readonly backend?: KeyBackendKind;
}

export interface RevocationChange {
  readonly objectId: string;
  readonly revoked: boolean;
  /** False when the object already was (or was not) revoked. */
  readonly changed: boolean;
}

export interface KeyActions {
  /** Any audited call under `action` (reads such as audit queries). */
  call<T>(
    actor: Actor,
    action: string,
    target: AuditTarget,
    run: () => T | Promise<T>,
    after?: (result: T) => AuditTarget,
  ): Promise<T>;
  /** Records a refused call as `denied` with `reason`; the caller then throws. */
  refuse(actor: Actor, action: string, target: AuditTarget, reason: ErrorCode): Promise<void>;
  list(actor: Actor): Promise<KeyInfo[]>;
  describe(actor: Actor, name: string): Promise<KeyInfo>;
  create(actor: Actor, request: CreateKeyRequest): Promise<KeyInfo>;
  rotate(actor: Actor, name: string, request: RotateKeyRequest): Promise<KeyInfo>;
  setEnabled(actor: Actor, name: string, enabled: boolean): Promise<KeyInfo>;
  /** `confirm` must repeat the key name: irreversible, so a mistyped URL cannot shred a key. */
  destroy(actor: Actor, name: string, confirm: string): Promise<KeyInfo>;
  setPolicy(actor: Actor, name: string, policy: KeyPolicy): Promise<KeyInfo>;
  setCacheSeconds(actor: Actor, name: string, seconds: number): Promise<KeyInfo>;
  listRevocations(
    actor: Actor,
    name: string,
  ): Promise<{ revoked: { readonly objectId: string; readonly revokedAt: string }[] }>;
  setRevoked(actor: Actor, name: string, objectId: string, revoked: boolean): Promise<RevocationChange>;
}

function eventOf(actor: Actor, action: string, target: AuditTarget) {
  return {
    action,
    issuer: actor.issuer,
    subject: actor.subject,
    ...(actor.userName === undefined ? {} : { userName: actor.userName }),
    ...target,
    clientAddress: actor.clientAddress,
    requestId: actor.requestId,
  };
}

export function createKeyActions(audit: AuditLog, admin: KeyAdmin): KeyActions {
  const call = <T>(
    actor: Actor,
    action: string,
    target: AuditTarget,
    run: () => T | Promise<T>,
    after?: (result: T) => AuditTarget,
  ): Promise<T> => runAudited(audit, eventOf(actor, action, target), run, after);

  return {
    call,
    async refuse(actor, action, target, reason) {
      await appendOrFail(audit, { ...eventOf(actor, action, target), result: 'denied', reason });
    },
    list: (actor) => call(actor, 'admin.key.list', {}, () => admin.list()),
    describe: (actor, name) => call(actor, 'admin.key.get', { keyName: name }, () => admin.describe(name)),
    create(actor, request) {
      const { name, protocol, spec, cacheSeconds, policy, privateKeyPem, backend } = request;
      const action = privateKeyPem === undefined ? 'admin.key.create' : 'admin.key.import';
      return call(
        actor,
        action,
        { keyName: name },
        async () => {
          assertNewKeyName(name);
          // Validate the policy before the key exists, so a bad policy leaves nothing behind.
          const normalized = policy === undefined ? undefined : normalizePolicy(policy);
          const options = { protocol, spec, cacheSeconds, backend };
          const created =
            privateKeyPem === undefined
              ? await admin.create(name, options)
              : await admin.import(name, privateKeyPem, options);
          return normalized === undefined ? created : admin.setPolicy(name, normalized);
        },
        keyTarget,
      );
    },
    rotate: (actor, name, { spec, privateKeyPem, backend }) =>
      call(
        actor,
        'admin.key.rotate',
        { keyName: name },
        () => admin.rotate(name, { spec, pem: privateKeyPem, backend }),
        keyTarget,
      ),
    setEnabled: (actor, name, enabled) =>
      call(actor, enabled ? 'admin.key.enable' : 'admin.key.disable', { keyName: name }, () =>
        enabled ? admin.enable(name) : admin.disable(name),
      ),
    destroy: (actor, name, confirm) =>
      call(actor, 'admin.key.destroy', { keyName: name }, () => {
        if (confirm !== name) {
          throw new DkeError('ERR_BAD_REQUEST', { message: 'confirm must repeat the key name' });
        }
        return admin.destroy(name);
      }),
    setPolicy: (actor, name, policy) =>
      call(actor, 'admin.policy.set', { keyName: name }, () =>
        admin.setPolicy(name, normalizePolicy(policy)),
      ),
    setCacheSeconds: (actor, name, seconds) =>
      call(actor, 'admin.cache.set', { keyName: name }, () => admin.setCacheSeconds(name, seconds)),
    listRevocations: (actor, name) =>
      call(actor, 'admin.revocation.list', { keyName: name }, async () => ({
        revoked: await admin.listRevokedObjects(name),
      })),
    setRevoked: (actor, name, objectId, revoked) =>
      call(
        actor,
        revoked ? 'admin.object.revoke' : 'admin.object.unrevoke',
        { keyName: name, objectId },
        async () => ({
          objectId,
          revoked,
          changed: revoked
            ? await admin.revokeObject(name, objectId)
            : await admin.unrevokeObject(name, objectId),
        }),
      ),
  };
}
