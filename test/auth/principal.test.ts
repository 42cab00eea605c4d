/** What a verified token's claims become: user ids, tenant check, the nOAuth rule, groups, roles, admin. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, type IssuerConfig } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { isAllowed } from '../../src/policy/evaluate.js';
import type { Principal } from '../../src/service/contracts.js';
import {
  authConfigFor,
  bearer,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';

let issuer: DevIssuer;
before(async () => {
  issuer = await startTestIssuer();
});
after(() => issuer.close());

async function principalFor(
  claims: Record<string, unknown>,
  config: Partial<IssuerConfig> = {},
): Promise<Principal> {
  const auth = createAuthenticator(authConfigFor([issuerConfigFor(issuer, { ...TEST_CLAIMS, ...config })]));
  return auth.authenticate(bearer(await validToken(issuer, claims)));
}

/** A principal of an issuer configured with nothing but its URL and algorithms. */
async function barePrincipalFor(claims: Record<string, unknown>): Promise<Principal> {
  const auth = createAuthenticator(authConfigFor([issuerConfigFor(issuer)]));
  return auth.authenticate(bearer(await validToken(issuer, claims)));
}

test('user ids: sub exactly, oid and the configured user-name claims trimmed and ASCII-lower-cased', async () => {
  const p = await principalFor({
    sub: 'Sub-1',
    oid: 'OID-1',
    upn: ' Alice@Contoso.COM',
    preferred_username: 'alice2@x',
  });
  assert.deepEqual(p.userIds, ['sub:Sub-1', 'oid:oid-1', 'alice@contoso.com', 'alice2@x']);
  assert.equal(p.userName, 'alice@contoso.com');
  assert.equal(p.subject, 'Sub-1', 'the subject itself is kept as issued');
});

test('userNameClaims order picks userName; unlisted claims are ignored', async () => {
  const p = await principalFor(
    { upn: 'upn@x', preferred_username: 'pref@x', unique_name: 'u@x' },
    { userNameClaims: ['preferred_username'] },
  );
  assert.deepEqual(p.userIds, ['sub:user-1', 'pref@x']);
  assert.equal(p.userName, 'pref@x');
});

test('a user name posing as a subject or object id is dropped', async () => {
  const p = await principalFor({ sub: 'me', preferred_username: 'SUB:victim', upn: 'oid:victim-oid' });
  assert.deepEqual(p.userIds, ['sub:me']);
  assert.equal(p.userName, undefined);
  assert.equal(isAllowed({ users: ['sub:victim'], groups: [], roles: [], tenants: [] }, p), false);
});

test('no implicit claims: an issuer configured without claim names yields only its subject', async () => {
  const claims = {
    sub: 'S',
    oid: 'o-1',
    upn: 'alice@x',
    preferred_username: 'alice@x',
    groups: ['g'],
    roles: ['r'],
    tid: 't',
  };
  const p = await barePrincipalFor(claims);
  assert.deepEqual(p.userIds, ['sub:S']);
  assert.deepEqual([p.groups, p.roles, p.tenant, p.userName], [[], [], undefined, undefined]);
  const withOid = await principalFor(claims, { objectIdClaim: 'oid' });
  assert.ok(withOid.userIds.includes('oid:o-1'));
});

test('tenant: tid alone never gives a principal a tenant', async () => {
  assert.equal((await principalFor({ tid: 'T1' })).tenant, undefined);
  assert.equal((await principalFor({})).tenant, undefined);
});

test('user names that are not NFKC (look-alikes) are left out, not folded', async () => {
  const p = await principalFor({ upn: '\u212Aate@x.example', preferred_username: 'kate@x.example' });
  assert.deepEqual(p.userIds, ['sub:user-1', 'kate@x.example']);
  const only = await principalFor({ upn: '\uFF4Bate@x.example' });
  assert.deepEqual(only.userIds, ['sub:user-1']);
  assert.equal(only.userName, undefined);
});

test('nOAuth: email is ignored unless the issuer config says it is verified', async () => {
  const claims = { sub: 'attacker', email: 'Victim@Corp.example', email_verified: true };
  const policy = { users: ['victim@corp.example'], groups: [], roles: [], tenants: [] };
  const untrusted = await principalFor(claims);
  assert.deepEqual(untrusted.userIds, ['sub:attacker']);
  assert.equal(isAllowed(policy, untrusted), false);
  const trusted = await principalFor(claims, { emailVerified: true });
  assert.deepEqual(trusted.userIds, ['sub:attacker', 'victim@corp.example']);
  assert.equal(trusted.userName, 'victim@corp.example');
  assert.equal(isAllowed(policy, trusted), true);
});

test('nOAuth: email_verified false (or "false") disqualifies the email even from a verifying issuer', async () => {
  for (const flag of [false, 'false', 'FALSE']) {
    const p = await principalFor(
      { email: 'victim@corp.example', email_verified: flag },
      { emailVerified: true },
    );
    assert.deepEqual(p.userIds, ['sub:user-1'], `email_verified ${JSON.stringify(flag)}`);
  }
  const absent = await principalFor({ email: 'someone@corp.example' }, { emailVerified: true });
  assert.ok(
    absent.userIds.includes('someone@corp.example'),
    'absent email_verified counts as verified by config',
  );
});

test('trusted user names come before email for userName', async () => {
  const p = await principalFor({ upn: 'alice@corp', email: 'a.l@corp' }, { emailVerified: true });
  assert.equal(p.userName, 'alice@corp');
  assert.deepEqual(p.userIds, ['sub:user-1', 'alice@corp', 'a.l@corp']);
});

test('groups and roles: arrays of strings, non-strings ignored, configurable and nested claims', async () => {
  const p = await principalFor({ groups: ['G1', 7, null, { x: 1 }, ' G2 ', ''], roles: ['Reader'] });
  assert.deepEqual(p.groups, ['G1', 'G2']);
  assert.deepEqual(p.roles, ['Reader']);
  const nested = await principalFor(
    { realm_access: { roles: ['kc-admin'] }, memberOf: 'only-group' },
    { rolesClaim: 'realm_access.roles', groupsClaim: 'memberOf' },
  );
  assert.deepEqual(nested.roles, ['kc-admin']);
  assert.deepEqual(nested.groups, ['only-group']);
  const none = await principalFor({ groups: 'x' }, { groupsClaim: 'grp' });
  assert.deepEqual(none.groups, []);
  const trimmed = await principalFor({ groups: ['\u00A0admins '] });
  assert.deepEqual(trimmed.groups, ['\u00A0admins'], 'only ASCII spaces are trimmed');
});

test('isAdmin from adminRoles or adminGroups only', async () => {
  const config = { adminRoles: ['DKE.Admin'], adminGroups: ['g-admins'] };
  assert.equal((await principalFor({ roles: ['dke.admin'] }, config)).isAdmin, true);
  assert.equal((await principalFor({ groups: ['G-ADMINS'] }, config)).isAdmin, true);
  assert.equal((await principalFor({ roles: ['DKE.Reader'], groups: ['g-users'] }, config)).isAdmin, false);
  assert.equal(
    (await principalFor({ roles: ['DKE.Admin'] })).isAdmin,
    false,
    'no admin config: nobody is admin',
  );
  assert.equal((await principalFor({ groups: ['DKE.Admin'] }, { adminRoles: ['DKE.Admin'] })).isAdmin, false);
  // Look-alikes of the admin role do not count: Kelvin sign, fullwidth letters.
  const admins = { adminRoles: ['dke-admin-k'] };
  assert.equal((await principalFor({ roles: ['dke-admin-\u212A'] }, admins)).isAdmin, false);
  assert.equal((await principalFor({ roles: ['\uFF44ke-admin-k'] }, admins)).isAdmin, false);
  assert.equal((await principalFor({ roles: ['DKE-ADMIN-K'] }, admins)).isAdmin, true);
});
