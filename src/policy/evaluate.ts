/**
 * Per-key authorization (docs/policy.md): a pure function of one key's policy and one principal, so no
 * state can leak between keys or requests. Deny by default: anything unexpected evaluates to "no".
 */
import type { KeyPolicy, Principal } from '../service/contracts.js';
import { DkeError } from '../errors/index.js';
import {
  comparableIdentity,
  comparablePrincipalUserId,
  comparableUserId,
  isNfkcStable,
  isSubjectId,
  trimAscii,
} from './identity.js';

const POLICY_FIELDS = ['users', 'groups', 'roles', 'tenants'] as const;
type PolicyField = (typeof POLICY_FIELDS)[number];

/** Upper bounds keep a policy cheap to evaluate on every request. */
export const MAX_POLICY_ENTRIES = 1000;
export const MAX_POLICY_ENTRY_LENGTH = 512;

type Comparable = (value: string) => string | undefined;

/** The comparison forms of a list's entries; undefined when the list is not an array of strings. */
function entries(list: unknown, comparable: Comparable): Set<string> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out = new Set<string>();
  for (const entry of list as unknown[]) {
    if (typeof entry !== 'string') return undefined;
    // An entry without a comparison form (blank, not NFKC) matches nobody; it must not match a blank claim.
    const n = comparable(entry);
    if (n !== undefined) out.add(n);
  }
  return out;
}

function anyIn(
  allowed: Set<string>,
  values: readonly unknown[] | undefined,
  comparable: Comparable,
): boolean {
  if (!Array.isArray(values)) return false;
  for (const value of values) {
    if (typeof value !== 'string') continue;
    const n = comparable(value);
    if (n !== undefined && allowed.has(n)) return true;
  }
  return false;
}

/** A `tenants` entry naming an issuer (a URL) rather than a tenant id. */
function isIssuerEntry(entry: string): boolean {
  return entry.includes('://');
}

/**
 * The tenant condition. An issuer URL entry matches only the caller's issuer, which the authenticator sets
 * to the exact configured issuer the token was verified against; a tenant id entry matches only the tenant
 * the issuer's configuration established (auth.md), never a claim of the token.
 */
function tenantAllowed(tenants: Set<string>, principal: Principal): boolean {
  const issuer = typeof principal.issuer === 'string' ? comparableIdentity(principal.issuer) : undefined;
  const tenant = typeof principal.tenant === 'string' ? comparableIdentity(principal.tenant) : undefined;
  for (const entry of tenants) {
    if (isIssuerEntry(entry) ? entry === issuer : entry === tenant) return true;
  }
  return false;
}

/**
 * True when the policy allows the principal. A caller is allowed when its issuer URL or established tenant
 * id is in `tenants` (or `tenants` is empty) AND it matches an entry of `users` (any of its `userIds`),
 * `groups` or `roles`. A policy whose users/groups/roles are all empty allows every user of the listed
 * tenants; a policy with every list empty refuses everyone.
 */
export function isAllowed(policy: KeyPolicy, principal: Principal): boolean {
  if (typeof policy !== 'object' || policy === null) return false;
  if (typeof principal !== 'object' || principal === null) return false;
  const users = entries(policy.users, comparableUserId);
  const groups = entries(policy.groups, comparableIdentity);
  const roles = entries(policy.roles, comparableIdentity);
  const tenants = entries(policy.tenants, comparableIdentity);
  // A malformed policy never allows anyone.
  if (!users || !groups || !roles || !tenants) return false;

  // "Empty" is judged on the lists as written, so a list holding only blank entries does not widen the policy
  // to "every user of the tenant": it is a list that matches nobody.
  const identityListsEmpty =
    policy.users.length === 0 && policy.groups.length === 0 && policy.roles.length === 0;
  const tenantsEmpty = policy.tenants.length === 0;
  if (identityListsEmpty && tenantsEmpty) return false;

  if (!tenantsEmpty && !tenantAllowed(tenants, principal)) return false;
  if (identityListsEmpty) return true;

  return (
    anyIn(users, principal.userIds, comparablePrincipalUserId) ||
    anyIn(groups, principal.groups, comparableIdentity) ||
    anyIn(roles, principal.roles, comparableIdentity)
  );
}

function badField(field: string, why: string): DkeError {
  return new DkeError('ERR_BAD_REQUEST', { message: `policy.${field} ${why}` });
}

/** The stored form of one entry (its comparison form), or an ERR_BAD_REQUEST naming it. */
function normalizeEntry(field: PolicyField, where: string, entry: string): string {
  // Control characters have no place in identifiers, and invisible format characters (zero-width space,
  // bidi controls, soft hyphen) or line separators would only hide look-alike entries in listings.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(entry))
    throw badField(where, 'must not contain control characters');
  if (/[\p{Cf}\p{Zl}\p{Zp}]/u.test(entry)) {
    throw badField(where, 'must not contain invisible format or separator characters');
  }
  const trimmed = trimAscii(entry);
  if (trimmed === '') throw badField(where, 'must not be blank');
  const isSubject = field === 'users' && isSubjectId(trimmed);
  // Subjects compare exactly, so they need no NFKC form; everything else that is not NFKC could only be a
  // look-alike of another entry (KELVIN SIGN for K, fullwidth letters, ligatures, combining sequences).
  if (!isSubject && !isNfkcStable(trimmed)) {
    throw badField(
      where,
      'must be in Unicode NFKC form (no compatibility characters such as fullwidth letters, ligatures or the Kelvin sign)',
    );
  }
  const n = field === 'users' ? comparableUserId(entry) : comparableIdentity(entry);
  if (n === undefined) throw badField(where, 'must not be blank');
  if (n.length > MAX_POLICY_ENTRY_LENGTH) {
    throw badField(where, `must be at most ${MAX_POLICY_ENTRY_LENGTH} characters`);
  }
  return n;
}

function normalizeList(field: PolicyField, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badField(field, 'must be an array of strings');
  if (value.length > MAX_POLICY_ENTRIES)
    throw badField(field, `must have at most ${MAX_POLICY_ENTRIES} entries`);
  const out: string[] = [];
  (value as unknown[]).forEach((entry, i) => {
    if (typeof entry !== 'string') throw badField(`${field}[${i}]`, 'must be a string');
    const n = normalizeEntry(field, `${field}[${i}]`, entry);
    if (!out.includes(n)) out.push(n);
  });
  return out;
}

/**
 * Validates a policy from a request or file and returns each entry in its comparison form (docs/policy.md:
 * trimmed, A-Z folded to a-z, `sub:` subjects kept exactly) and de-duplicated; missing lists become empty.
 * Throws DkeError ERR_BAD_REQUEST naming the offending field.
 */
export function normalizePolicy(input: unknown): KeyPolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new DkeError('ERR_BAD_REQUEST', { message: 'policy must be an object' });
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(POLICY_FIELDS as readonly string[]).includes(key))
      throw new DkeError('ERR_BAD_REQUEST', {
        message: `policy.${key.slice(0, 64)} is not a policy field (expected users, groups, roles, tenants)`,
      });
  }
  return {
    users: normalizeList('users', record.users),
    groups: normalizeList('groups', record.groups),
    roles: normalizeList('roles', record.roles),
    tenants: normalizeList('tenants', record.tenants),
  };
}
