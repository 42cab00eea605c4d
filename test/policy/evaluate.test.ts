import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAllowed, normalizePolicy } from '../../src/policy/evaluate.js';
import { EMPTY_POLICY, type KeyPolicy, type Principal } from '../../src/service/contracts.js';
import { isDkeError } from '../../src/errors/index.js';

const ISSUER_A = 'https://login.a.example/tenant-a/v2.0';
const ISSUER_B = 'https://idp.b.example';

function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    issuer: ISSUER_A,
    subject: 'S-123',
    tenant: 'TID-A',
    userIds: ['sub:s-123', 'oid:o-1', 'alice@a.example'],
    userName: 'alice@a.example',
    groups: ['Engineering', 'g-0001'],
    roles: ['Reader'],
    isAdmin: false,
    ...overrides,
  };
}

function policy(overrides: Partial<KeyPolicy> = {}): KeyPolicy {
  return { ...EMPTY_POLICY, ...overrides };
}

test('deny by default: a policy with every list empty refuses everyone', () => {
  assert.equal(isAllowed(EMPTY_POLICY, principal()), false);
  assert.equal(isAllowed(EMPTY_POLICY, principal({ isAdmin: true })), false);
});

test('users entries match any of the principal userIds', () => {
  assert.equal(isAllowed(policy({ users: ['alice@a.example'] }), principal()), true);
  assert.equal(isAllowed(policy({ users: ['sub:s-123'] }), principal()), true);
  assert.equal(isAllowed(policy({ users: ['oid:o-1'] }), principal()), true);
  assert.equal(isAllowed(policy({ users: ['bob@a.example'] }), principal()), false);
  // The bare subject is not a user id: only the prefixed form is.
  assert.equal(isAllowed(policy({ users: ['s-123'] }), principal()), false);
});

test('compare is trimmed and case-insensitive on both sides', () => {
  assert.equal(isAllowed(policy({ users: ['  ALICE@A.Example '] }), principal()), true);
  assert.equal(isAllowed(policy({ groups: [' engineering'] }), principal()), true);
  assert.equal(isAllowed(policy({ roles: ['READER '] }), principal()), true);
  assert.equal(
    isAllowed(policy({ tenants: [` ${ISSUER_A.toUpperCase()} `], roles: ['reader'] }), principal()),
    true,
  );
  assert.equal(
    isAllowed(policy({ users: ['alice@a.example'] }), principal({ userIds: [' Alice@A.example '] })),
    true,
  );
});

test('groups and roles match; a near miss does not', () => {
  assert.equal(isAllowed(policy({ groups: ['g-0001'] }), principal()), true);
  assert.equal(isAllowed(policy({ groups: ['g-000'] }), principal()), false);
  assert.equal(isAllowed(policy({ roles: ['Writer'] }), principal()), false);
  assert.equal(isAllowed(policy({ roles: ['Reader'] }), principal({ roles: [] })), false);
  // A group name in roles (or the reverse) does not count.
  assert.equal(isAllowed(policy({ roles: ['engineering'] }), principal()), false);
  assert.equal(isAllowed(policy({ groups: ['reader'] }), principal()), false);
});

test('tenants scope the identity lists by issuer URL or tenant id', () => {
  const scoped = policy({ tenants: [ISSUER_B], users: ['alice@a.example'] });
  assert.equal(isAllowed(scoped, principal()), false, 'a matching user of another issuer is refused');
  assert.equal(isAllowed(scoped, principal({ issuer: ISSUER_B, tenant: undefined })), true);
  const byTid = policy({ tenants: ['tid-a'], groups: ['engineering'] });
  assert.equal(isAllowed(byTid, principal()), true);
  assert.equal(isAllowed(byTid, principal({ tenant: 'tid-b' })), false);
  assert.equal(isAllowed(byTid, principal({ tenant: undefined })), false);
});

test('tenants alone allow every user of those tenants, and only them', () => {
  const tenantOnly = policy({ tenants: [ISSUER_A] });
  assert.equal(isAllowed(tenantOnly, principal({ userIds: ['sub:x'], groups: [], roles: [] })), true);
  assert.equal(isAllowed(tenantOnly, principal({ issuer: ISSUER_B, tenant: undefined })), false);
});

test('empty tenants: identity lists apply to every issuer', () => {
  assert.equal(
    isAllowed(policy({ roles: ['reader'] }), principal({ issuer: ISSUER_B, tenant: undefined })),
    true,
  );
});

test('blank entries match nobody and do not widen a tenant-scoped policy', () => {
  assert.equal(isAllowed(policy({ users: [' '] }), principal({ userIds: [''] })), false);
  assert.equal(isAllowed(policy({ tenants: [ISSUER_A], users: [''] }), principal()), false);
  assert.equal(isAllowed(policy({ tenants: [''], roles: ['reader'] }), principal()), false);
});

test('malformed policies and principals are refused', () => {
  const broken = { users: 'alice@a.example', groups: [], roles: [], tenants: [] } as unknown as KeyPolicy;
  assert.equal(isAllowed(broken, principal()), false);
  const nonString = { users: [42], groups: [], roles: [], tenants: [] } as unknown as KeyPolicy;
  assert.equal(isAllowed(nonString, principal({ userIds: ['42'] })), false);
  assert.equal(isAllowed(null as unknown as KeyPolicy, principal()), false);
  assert.equal(isAllowed(policy({ users: ['alice@a.example'] }), null as unknown as Principal), false);
  const weird = principal({ groups: [7, 'x'] as unknown as string[] });
  assert.equal(isAllowed(policy({ groups: ['7'] }), weird), false);
});

test('no cross-key leak: evaluating one policy never changes the answer of another', () => {
  const keyA = policy({ users: ['alice@a.example'] });
  const keyB = policy({ users: ['bob@a.example'] });
  const alice = principal();
  assert.equal(isAllowed(keyA, alice), true);
  assert.equal(isAllowed(keyB, alice), false);
  assert.equal(isAllowed(keyA, alice), true);
  assert.deepEqual(keyA.users, ['alice@a.example'], 'policy not mutated');
  assert.deepEqual(alice.userIds, ['sub:s-123', 'oid:o-1', 'alice@a.example'], 'principal not mutated');
});

test('property: allowed implies a tenant and an identity match (or a tenant-only policy)', () => {
  const id = fc.constantFrom('a', 'B', ' c ', 'sub:x', 'g', 'r', ISSUER_A, 'tid-a');
  const list = fc.array(id, { maxLength: 3 });
  fc.assert(
    fc.property(
      list,
      list,
      list,
      list,
      list,
      list,
      list,
      (users, groups, roles, tenants, pUsers, pGroups, pRoles) => {
        const pol = policy({ users, groups, roles, tenants });
        const who = principal({ userIds: pUsers, groups: pGroups, roles: pRoles });
        const n = (s: string): string => s.trim().toLowerCase();
        const has = (a: readonly string[], b: readonly string[]): boolean =>
          a.some((x) => b.map(n).includes(n(x)));
        const tenantOk = tenants.length === 0 || has([who.issuer, who.tenant ?? ''], tenants);
        const identityEmpty = users.length + groups.length + roles.length === 0;
        const identityOk = has(pUsers, users) || has(pGroups, groups) || has(pRoles, roles);
        const expected =
          !(identityEmpty && tenants.length === 0) && tenantOk && (identityEmpty || identityOk);
        assert.equal(isAllowed(pol, who), expected);
      },
    ),
  );
});

test('normalizePolicy trims, lower-cases, de-duplicates and fills missing lists', () => {
  assert.deepEqual(
    normalizePolicy({ users: [' Alice@Example.com', 'alice@example.com'], tenants: ['TID'] }),
    {
      users: ['alice@example.com'],
      groups: [],
      roles: [],
      tenants: ['tid'],
    },
  );
  assert.deepEqual(normalizePolicy({}), EMPTY_POLICY);
});

test('normalizePolicy rejects bad input naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /policy must be an object/],
    [[], /policy must be an object/],
    ['x', /policy must be an object/],
    [{ users: 'alice' }, /policy\.users must be an array/],
    [{ groups: ['ok', 3] }, /policy\.groups\[1\] must be a string/],
    [{ roles: ['  '] }, /policy\.roles\[0\] must not be blank/],
    [{ tenants: ['a\u0000b'] }, /policy\.tenants\[0\] must not contain control characters/],
    [{ users: ['x'.repeat(600)] }, /policy\.users\[0\] must be at most/],
    [{ users: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, /policy\.users must have at most/],
    [{ admins: ['x'] }, /policy\.admins is not a policy field/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => normalizePolicy(input),
      (error: unknown) => isDkeError(error, 'ERR_BAD_REQUEST') && message.test(error.message),
      `input ${JSON.stringify(input)?.slice(0, 60)}`,
    );
  }
});

test('a normalized policy evaluates like the raw one', () => {
  const raw = { users: [' Alice@A.example '], tenants: [ISSUER_A.toUpperCase()] };
  assert.equal(isAllowed(normalizePolicy(raw), principal()), true);
  assert.equal(isAllowed(normalizePolicy(raw), principal({ issuer: ISSUER_B, tenant: undefined })), false);
});
