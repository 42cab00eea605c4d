/**
 * Tenants come only from the issuer configuration (issue 9 item 1, docs/auth.md "Tenants"): config checks,
 * and tokens of real development issuers over real HTTP against pinned and multi-tenant configurations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, resolveAuthConfig, type IssuerConfig } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { isAllowed } from '../../src/policy/evaluate.js';
import { EMPTY_POLICY } from '../../src/service/contracts.js';
import {
  authConfigFor,
  bearer,
  issuerConfigFor,
  startTestIssuer,
  TEST_CLAIMS,
  validToken,
} from '../support/issuer.js';
import { rejectsWith } from './expect-auth.js';

const GUID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_GUID = '00000000-0000-0000-0000-000000000001';

function assertInvalid(issuers: Record<string, unknown>[], message: RegExp): void {
  const input = {
    audience: 'api://dke',
    issuers: issuers.map((i) => ({ algorithms: ['RS256'], ...i })),
  };
  assert.throws(
    () => resolveAuthConfig(input),
    (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && message.test(e.message),
    JSON.stringify(issuers),
  );
}

function resolves(issuers: Record<string, unknown>[]): void {
  resolveAuthConfig({
    audience: 'api://dke',
    issuers: issuers.map((i) => ({ algorithms: ['RS256'], ...i })),
  });
}

describe('config: a tenant must be established by the issuer URL', () => {
  test('tenantId must be a path segment of the issuer (the Entra forms agree)', () => {
    resolves([{ issuer: `https://sts.windows.net/${GUID}/`, tenantId: GUID }]);
    resolves([{ issuer: `https://login.microsoftonline.com/${GUID}/v2.0`, tenantId: GUID }]);
    resolves([{ issuer: 'https://sso.example/realms/staff', tenantId: 'staff' }]);
    for (const issuer of [
      `https://sts.windows.net/${OTHER_GUID}/`,
      `https://login.microsoftonline.com/${GUID.toUpperCase()}/v2.0`,
      `https://login.microsoftonline.com/x${GUID}/v2.0`,
      'https://idp.example',
      `https://${GUID}.example/`,
    ]) {
      assertInvalid(
        [{ issuer, tenantId: GUID }],
        /issuers\[0\]\.tenantId must appear as a whole path segment/,
      );
    }
    assertInvalid([{ issuer: 'https://idp.example/a/b', tenantId: 'a/b' }], /tenantId/);
    assertInvalid([{ issuer: 'https://idp.example/a%20b', tenantId: 'a b' }], /tenantId/);
  });

  test('multi-tenant templates need allowedTenants and a key source; the list needs a template', () => {
    const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    const jwksUri = 'https://login.microsoftonline.com/common/discovery/v2.0/keys';
    resolves([{ issuer: template, allowedTenants: [GUID, OTHER_GUID], jwksUri }]);
    assertInvalid([{ issuer: template, jwksUri }], /allowedTenants is required/);
    assertInvalid([{ issuer: template, allowedTenants: [], jwksUri }], /allowedTenants/);
    assertInvalid([{ issuer: template, allowedTenants: [GUID] }], /needs discoveryUrl or jwksUri/);
    assertInvalid(
      [{ issuer: template, allowedTenants: [GUID], jwksUri, tenantId: GUID }],
      /tenantId must not be set/,
    );
    assertInvalid(
      [{ issuer: `https://sts.windows.net/${GUID}/`, allowedTenants: [GUID] }],
      /only for an issuer containing/,
    );
    assertInvalid(
      [{ issuer: 'https://x.example/t-{tenantid}/', allowedTenants: [GUID], jwksUri }],
      /whole path segment/,
    );
    assertInvalid(
      [{ issuer: 'https://x.example/{tenantid}/{tenantid}', allowedTenants: [GUID], jwksUri }],
      /once/,
    );
    assertInvalid([{ issuer: 'https://{tenantid}.example/', allowedTenants: [GUID], jwksUri }], /issuer/);
    assertInvalid([{ issuer: template, allowedTenants: ['a/b'], jwksUri }], /allowedTenants/);
  });

  test('one iss and one tenant id per source', () => {
    const template = 'https://sts.windows.net/{tenantid}/';
    const jwksUri = 'https://login.microsoftonline.com/common/discovery/keys';
    assertInvalid(
      [
        { issuer: `https://sts.windows.net/${GUID}/`, tenantId: GUID },
        { issuer: template, allowedTenants: [GUID], jwksUri },
      ],
      /issuers\[1\]\.issuer is configured twice/,
    );
    assertInvalid(
      [{ issuer: 'https://idp.example/Realm' }, { issuer: 'https://idp.example/realm' }],
      /configured twice/,
    );
    // Entra v1 and v2 issuers of one tenant: one authority, fine.
    resolves([
      { issuer: `https://sts.windows.net/${GUID}/`, tenantId: GUID },
      { issuer: `https://login.microsoftonline.com/${GUID}/v2.0`, tenantId: GUID },
    ]);
    // Another authority naming the same tenant id would answer for Entra's tenant.
    assertInvalid(
      [
        { issuer: `https://sts.windows.net/${GUID}/`, tenantId: GUID },
        { issuer: `https://idp.example/${GUID}`, tenantId: GUID },
      ],
      /issuers\[1\] establishes tenant .* by an issuer of Microsoft Entra ID/,
    );
    assertInvalid(
      [
        { issuer: 'https://idp.example/realms/Staff', tenantId: 'Staff' },
        { issuer: 'https://idp.example/staff', tenantId: 'staff' },
      ],
      /establishes tenant "staff"/,
    );
  });

  test('settings that read a claim need the claim declared', () => {
    const issuer = 'https://idp.example';
    assertInvalid([{ issuer, adminRoles: ['admin'] }], /issuers\[0\]\.adminRoles needs rolesClaim/);
    assertInvalid([{ issuer, adminGroups: ['g'] }], /issuers\[0\]\.adminGroups needs groupsClaim/);
    assertInvalid([{ issuer, requiredRoles: ['r'] }], /issuers\[0\]\.requiredRoles needs rolesClaim/);
    resolves([
      { issuer, adminRoles: ['admin'], rolesClaim: 'roles', adminGroups: ['g'], groupsClaim: 'groups' },
    ]);
  });
});

describe('tokens against tenant configurations (real development issuer)', () => {
  let iss: DevIssuer;
  let discovery: Server;
  let discoveryUrl: string;
  before(async () => {
    iss = await startTestIssuer();
    // A discovery document naming the template, as Entra's /common/ endpoint does.
    discovery = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: `${iss.issuer}/{tenantid}/v2.0`, jwks_uri: iss.jwksUri }));
    });
    await new Promise<void>((resolve) => discovery.listen(0, '127.0.0.1', resolve));
    discoveryUrl = `http://127.0.0.1:${(discovery.address() as AddressInfo).port}/common/v2.0/.well-known/openid-configuration`;
  });
  after(async () => {
    await iss.close();
    await new Promise((resolve) => discovery.close(resolve));
  });

  const pinned = (): IssuerConfig => ({
    issuer: `${iss.issuer}/tenant-1/v2.0`,
    jwksUri: iss.jwksUri,
    algorithms: [iss.alg],
    tenantId: 'tenant-1',
    ...TEST_CLAIMS,
  });
  const template = (): IssuerConfig => ({
    issuer: `${iss.issuer}/{tenantid}/v2.0`,
    discoveryUrl,
    algorithms: [iss.alg],
    allowedTenants: ['tenant-1', 'tenant-2'],
    ...TEST_CLAIMS,
  });

  test('pinned tenant: tid must equal it exactly; the principal carries the configured tenant', async () => {
    const auth = createAuthenticator(authConfigFor([pinned()]));
    const issuer = `${iss.issuer}/tenant-1/v2.0`;
    const p = await auth.authenticate(bearer(await validToken(iss, { iss: issuer, tid: 'tenant-1' })));
    assert.equal(p.tenant, 'tenant-1');
    assert.equal(p.issuer, issuer);
    for (const tid of [undefined, 'tenant-2', 'TENANT-1', ' tenant-1', ['tenant-1'], issuer]) {
      await rejectsWith(
        auth.authenticate(bearer(await validToken(iss, { iss: issuer, tid }))),
        'ERR_AUTH_INVALID',
        /token tenant not accepted/,
      );
    }
  });

  test('multi-tenant: iss must be the template with an allowed tid, and tid must agree with iss', async () => {
    const auth = createAuthenticator(authConfigFor([template()]));
    const at = (tenant: string): string => `${iss.issuer}/${tenant}/v2.0`;
    for (const tenant of ['tenant-1', 'tenant-2']) {
      const p = await auth.authenticate(bearer(await validToken(iss, { iss: at(tenant), tid: tenant })));
      assert.equal(p.tenant, tenant);
      assert.equal(p.issuer, at(tenant));
    }
    // iss of tenant-1, tid of tenant-2: inconsistent.
    await rejectsWith(
      auth.authenticate(bearer(await validToken(iss, { iss: at('tenant-1'), tid: 'tenant-2' }))),
      'ERR_AUTH_INVALID',
      /token tenant not accepted/,
    );
    // A tenant not in the list, or the template itself as iss.
    for (const [badIss, tid] of [
      [at('tenant-3'), 'tenant-3'],
      [`${iss.issuer}/{tenantid}/v2.0`, 'tenant-1'],
      [at('TENANT-1'), 'TENANT-1'],
    ] as const) {
      await rejectsWith(
        auth.authenticate(bearer(await validToken(iss, { iss: badIss, tid }))),
        'ERR_AUTH_INVALID',
        /token issuer not accepted/,
      );
    }
    assert.equal(auth.keyStats(`${iss.issuer}/{tenantid}/v2.0`)?.discoveryFetches, 1, 'one shared key set');
  });

  test('an issuer without tenant config: tid never makes a tenant, so tenant entries never match', async () => {
    const auth = createAuthenticator(authConfigFor([issuerConfigFor(iss, TEST_CLAIMS), pinned()]));
    for (const tid of ['tenant-1', `${iss.issuer}/tenant-1/v2.0`]) {
      const p = await auth.authenticate(bearer(await validToken(iss, { tid, upn: 'a@x' })));
      assert.equal(p.tenant, undefined);
      assert.equal(p.issuer, iss.issuer);
      for (const tenants of [['tenant-1'], [`${iss.issuer}/tenant-1/v2.0`]]) {
        assert.equal(isAllowed({ ...EMPTY_POLICY, tenants }, p), false);
        assert.equal(isAllowed({ ...EMPTY_POLICY, tenants, users: ['a@x'] }, p), false);
      }
    }
  });
});
