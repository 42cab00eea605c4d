/**
 * The contracts between the key service's core parts. Protocol adapters (native API, Microsoft DKE,
 * later Google CSE / AWS XKS) are thin: they turn HTTP into calls on these interfaces, so key storage,
 * authentication, authorization and audit exist once. Implementations live in src/store, src/keystore,
 * src/auth, src/policy and src/audit.
 */
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { KeySpec } from '../crypto/holder-keys.js';

// ---------------------------------------------------------------- identities (src/auth)

/** An authenticated caller, derived only from claims its issuer's configuration says are trustworthy. */
export interface Principal {
  /** The accepted issuer the token was verified against (its `iss`; a template with the tenant filled in). */
  readonly issuer: string;
  /** The token's `sub`. */
  readonly subject: string;
  /**
   * The tenant, only where the issuer configuration establishes it (a pinned `tenantId` its issuer URL names,
   * or a multi-tenant issuer's allowed tenant matching `iss`) and `tid` agrees; never from `tid` alone.
   */
  readonly tenant?: string;
  /**
   * Identifiers this user can be allowed by: `sub:<sub>` (the subject exactly as issued), `oid:<oid>` (where
   * the issuer config names an object-id claim), and user names from the claims the issuer config names
   * (`email` only where it says it is verified); names and oids in comparison form (docs/policy.md).
   */
  readonly userIds: readonly string[];
  /** The user name to show and to match e-mail/UPN allow lists (comparison form), if the token has a trusted one. */
  readonly userName?: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  /** True when the issuer config grants this caller the admin role. */
  readonly isAdmin: boolean;
}

export interface Authenticator {
  /**
   * Validates a bearer token from an `Authorization` header value.
   * Throws DkeError ERR_AUTH_MISSING (no/blank header) or ERR_AUTH_INVALID (anything else wrong).
   */
  authenticate(authorizationHeader: string | undefined): Promise<Principal>;
  /** The audience configured for the service (for WWW-Authenticate challenges). */
  readonly challenge: { readonly audience: string; readonly authority: string } | undefined;
}

// ---------------------------------------------------------------- keys (src/keystore)

export type KeyProtocol = 'native' | 'ms-dke';
export type KeyState = 'enabled' | 'disabled' | 'destroyed';

/**
 * Per-key allow lists, deny by default (docs/policy.md). Entries compare ASCII-trimmed, A-Z case-insensitively
 * and only in NFKC form; `sub:` subjects compare exactly (docs/policy.md, "Comparing identities").
 * A caller is allowed when its issuer or tenant is in `tenants` (or `tenants` is empty) AND it matches an entry of
 * `users`, `groups` or `roles`; a policy whose `users`, `groups` and `roles` are all empty allows every user
 * of the listed `tenants`, and a policy with every list empty refuses everyone.
 */
export interface KeyPolicy {
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  /** Issuer URLs (matched against the issuer) or tenant ids (matched against the established tenant). */
  readonly tenants: readonly string[];
}

export const EMPTY_POLICY: KeyPolicy = { users: [], groups: [], roles: [], tenants: [] };

export interface KeyVersionInfo {
  readonly version: number;
  /** RFC 7638 SHA-256 thumbprint of the public key, base64url: the key id everywhere (JWE kid, MS DKE key id). */
  readonly keyId: string;
  readonly spec: KeySpec;
  readonly publicJwk: JWK;
  readonly createdAt: string;
  /** True once the version's private key was destroyed. */
  readonly destroyed: boolean;
}

export interface KeyInfo {
  readonly name: string;
  readonly protocol: KeyProtocol;
  readonly state: KeyState;
  readonly activeVersion: number;
  /** How long clients may cache the public key (MS DKE `cache.exp`); undefined: no caching. */
  readonly cacheSeconds: number | undefined;
  readonly policy: KeyPolicy;
  readonly versions: readonly KeyVersionInfo[];
  readonly createdAt: string;
}

// ---------------------------------------------------------------- audit (src/audit)

export type AuditResult = 'allowed' | 'denied' | 'failed' | 'ok';

export interface AuditEvent {
  /** e.g. 'native.unwrap', 'ms-dke.decrypt', 'key.create', 'key.rotate', 'admin.policy.set'. */
  readonly action: string;
  readonly result: AuditResult;
  /** Error code (registry) when result is not allowed/ok. */
  readonly reason?: string;
  readonly issuer?: string;
  readonly subject?: string;
  readonly userName?: string;
  readonly keyName?: string;
  readonly keyVersion?: number;
  readonly keyId?: string;
  /** The object id (base64url) bound into the unwrapped share, where there is one. */
  readonly objectId?: string;
  readonly clientAddress?: string;
  readonly requestId?: string;
}

export interface AuditRecord extends AuditEvent {
  readonly seq: number;
  /** ISO-8601 UTC with milliseconds. */
  readonly time: string;
  /** Hex SHA-256 of the previous record (64 zeros for the first). */
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditQuery {
  readonly keyName?: string;
  readonly objectId?: string;
  readonly subject?: string;
  /** Matches subject or userName. */
  readonly identity?: string;
  readonly since?: string;
  readonly limit?: number;
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly records: number;
  /** The first record that does not verify (seq), with why. */
  readonly firstBroken?: { readonly seq: number; readonly reason: string };
}

export interface AuditLog {
  /** Resolves only after the record is durable on disk (group commit allowed). Rejects ERR_AUDIT_UNAVAILABLE. */
  append(event: AuditEvent): Promise<AuditRecord>;
  query(query: AuditQuery): Promise<AuditRecord[]>;
  verify(): Promise<AuditVerification>;
}

// ---------------------------------------------------------------- the key core the adapters call

export interface UnwrapContext {
  readonly principal: Principal;
  readonly clientAddress: string;
  readonly requestId: string;
}

export interface KeyCore {
  /** The key with its versions. Rejects ERR_KEY_NOT_FOUND. */
  describe(name: string): Promise<KeyInfo>;
  /**
   * Private key of one version for an authorized, audited operation. Checks, in order: key exists
   * (ERR_KEY_NOT_FOUND), version exists under it (ERR_KEY_NOT_FOUND), not destroyed (ERR_KEY_DESTROYED),
   * enabled (ERR_KEY_DISABLED), policy allows the principal (ERR_FORBIDDEN), object not revoked
   * (ERR_OBJECT_REVOKED, when objectId is given). State is read per call, so lifecycle changes made by
   * another process take effect on the next request.
   */
  privateKeyFor(
    name: string,
    keyId: string,
    principal: Principal,
    objectId?: string,
  ): Promise<{ key: KeyObject; version: KeyVersionInfo }>;
}

// ---------------------------------------------------------------- key administration (src/keystore)

/** Key lifecycle operations the admin API and the `dke key` CLI call (implemented by src/keystore). */
export interface KeyAdmin {
  create(
    name: string,
    options?: { readonly protocol?: KeyProtocol; readonly spec?: KeySpec; readonly cacheSeconds?: number },
  ): Promise<KeyInfo>;
  /** Imports a PKCS#1 or PKCS#8 PEM private key as version 1 of a new key. */
  import(
    name: string,
    pem: string,
    options?: { readonly protocol?: KeyProtocol; readonly spec?: KeySpec; readonly cacheSeconds?: number },
  ): Promise<KeyInfo>;
  /** New active version (generated, or from `pem`); older versions keep working. */
  rotate(name: string, options?: { readonly pem?: string; readonly spec?: KeySpec }): Promise<KeyInfo>;
  disable(name: string): Promise<KeyInfo>;
  enable(name: string): Promise<KeyInfo>;
  /** Crypto-shreds every version's private key; irreversible. */
  destroy(name: string): Promise<KeyInfo>;
  list(): Promise<KeyInfo[]>;
  describe(name: string): Promise<KeyInfo>;
  /** Replaces the whole policy (validated and normalised; ERR_BAD_REQUEST names a bad field). */
  setPolicy(name: string, policy: KeyPolicy): Promise<KeyInfo>;
  setCacheSeconds(name: string, seconds: number | undefined): Promise<KeyInfo>;
  /** False when already revoked. */
  revokeObject(name: string, objectId: string): Promise<boolean>;
  /** False when not revoked. */
  unrevokeObject(name: string, objectId: string): Promise<boolean>;
  listRevokedObjects(name: string): Promise<{ readonly objectId: string; readonly revokedAt: string }[]>;
}
