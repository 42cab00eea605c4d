/**
 * Per-key authorization (docs/policy.md): a pure function of one key's policy and one principal, so no
 * state can leak between keys or requests. Deny by default: anything unexpected evaluates to "no".
 */
import type { KeyPolicy, Principal } from '../service/contracts.js';
import { DkeError } from '../errors/index.js';

const POLICY_FIELDS = ['users', 'groups', 'roles', 'tenants'] as const;
type PolicyField = (typeof POLICY_FIELDS)[number];

/** Upper bounds keep a policy cheap to evaluate on every request. */
export const MAX_POLICY_ENTRIES = 1000;
export const MAX_POLICY_ENTRY_LENGTH = 512;

function norm(value: string): string {
  return value.trim().toLowerCase();
}

/** The normalized, non-blank entries of a list; undefined when the list is not an array of strings. */
function entries(list: unknown): Set<string> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out = new Set<string>();
  for (const entry of list as unknown[]) {
    if (typeof entry !== 'string') return undefined;
    const n = norm(entry);
    // A blank entry matches nobody (it must not match a blank claim).
    if (n !== '') out.add(n);
  }
  return out;
}

function anyIn(allowed: Set<string>, values: readonly unknown[] | undefined): boolean {
  if (!Array.isArray(values)) return false;
  for (const value of values) {
    if (typeof value !== 'string') continue;
    const n = norm(value);
    if (n !== '' && allowed.has(n)) return true;
  }
  return false;
}

/**
 * True when the policy allows the principal. A caller is allowed when its issuer URL or tenant id is in
 * `tenants` (or `tenants` is empty) AND it matches an entry of `users` (any of its `userIds`), `groups` or
 * `roles`. A policy whose users/groups/roles are all empty allows every user of the listed tenants; a policy
 * with every list empty refuses everyone.
 */
export function isAllowed(policy: KeyPolicy, principal: Principal): boolean {
  if (typeof policy !== 'object' || policy === null) return false;
  if (typeof principal !== 'object' || principal === null) return false;
  const users = entries(policy.users);
  const groups = entries(policy.groups);
  const roles = entries(policy.roles);
  const tenants = entries(policy.tenants);
  // A malformed policy never allows anyone.
  if (!users || !groups || !roles || !tenants) return false;

  // "Empty" is judged on the lists as written, so a list holding only blank entries does not widen the policy
  // to "every user of the tenant": it is a list that matches nobody.
  const identityListsEmpty =
    policy.users.length === 0 && policy.groups.length === 0 && policy.roles.length === 0;
  const tenantsEmpty = policy.tenants.length === 0;
  if (identityListsEmpty && tenantsEmpty) return false;

  if (!tenantsEmpty && !anyIn(tenants, [principal.issuer, principal.tenant])) return false;
  if (identityListsEmpty) return true;

  return anyIn(users, principal.userIds) || anyIn(groups, principal.groups) || anyIn(roles, principal.roles);
}

function badField(field: string, why: string): DkeError {
  return new DkeError('ERR_BAD_REQUEST', { message: `policy.${field} ${why}` });
}

function normalizeList(field: PolicyField, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badField(field, 'must be an array of strings');
  if (value.length > MAX_POLICY_ENTRIES)
    throw badField(field, `must have at most ${MAX_POLICY_ENTRIES} entries`);
  const out: string[] = [];
  (value as unknown[]).forEach((entry, i) => {
    if (typeof entry !== 'string') throw badField(`${field}[${i}]`, 'must be a string');
    const n = norm(entry);
    if (n === '') throw badField(`${field}[${i}]`, 'must not be blank');
    if (n.length > MAX_POLICY_ENTRY_LENGTH) {
      throw badField(`${field}[${i}]`, `must be at most ${MAX_POLICY_ENTRY_LENGTH} characters`);
    }
    // Control characters have no place in identifiers and would only hide look-alike entries in listings.
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(n))
      throw badField(`${field}[${i}]`, 'must not contain control characters');
    if (!out.includes(n)) out.push(n);
  });
  return out;
}

/**
 * Validates a policy from a request or file and returns it trimmed, lower-cased and de-duplicated; missing
 * lists become empty. Throws DkeError ERR_BAD_REQUEST naming the offending field.
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
