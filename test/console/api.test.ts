/**
 * The console's back end over real HTTP against the real development issuer: sign-in (cookies and their
 * attributes), the gate (no session 401, CSRF and Origin 403, roles 403), the keys API on the admin API's
 * audited path, security headers, and the configuration checks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { startServer } from '../../src/service/server.js';
import {
  startConsoleService,
  writeConsoleConfig,
  type ConsoleAnswer,
  type ConsoleService,
  type HttpSession,
} from '../support/console.js';
import { freePort } from '../support/free-port.js';

let service: ConsoleService;

before(async () => {
  service = await startConsoleService({ name: 'api' });
});
after(() => service.close());

const apiCall = (
  session: HttpSession | undefined,
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<ConsoleAnswer<Record<string, unknown>>> => service.call(session, method, url, { body, headers });

test('the console pages come with a strict CSP and no inline script or style', async () => {
  const page = await fetch(`${service.url}/console/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  const csp = page.headers.get('content-security-policy') ?? '';
  for (const directive of [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ]) {
    assert.ok(csp.includes(directive), `${directive} in ${csp}`);
  }
  assert.ok(!csp.includes('unsafe-inline'));
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('x-frame-options'), 'SAMEORIGIN');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  // Every script has a src (no inline code), no style attributes or elements.
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/);
  assert.doesNotMatch(html, /<style|\sstyle=/);
  const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(script !== undefined);
  const asset = await fetch(`${service.url}${script}`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get('content-type') ?? '', /javascript/);
  // Routes outside the console keep their own headers (no console CSP on the key API).
  const health = await fetch(`${service.url}/healthz`);
  assert.equal(health.headers.get('content-security-policy'), null);
});

test('without a session every API call is 401, never rate limited as failed authentication', async () => {
  for (let i = 0; i < 25; i += 1) {
    const answer = await apiCall(undefined, 'GET', '/keys');
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error, 'ERR_CONSOLE_SIGNIN_REQUIRED');
  }
  const forged = await apiCall(undefined, 'GET', '/session', undefined, {
    cookie: 'opendke-console=abc.def',
  });
  assert.equal(forged.status, 401);
});

test('sign-in cookies: Lax short-lived login state, Strict HttpOnly session', async () => {
  const start = await fetch(`${service.url}/console/login`, { redirect: 'manual' });
  const loginCookie = start.headers.getSetCookie().find((c) => c.startsWith('opendke-login=')) ?? '';
  assert.match(loginCookie, /HttpOnly/i);
  assert.match(loginCookie, /SameSite=Lax/i);
  assert.match(loginCookie, /Max-Age=600/);
  assert.match(loginCookie, /Path=\/console/);
  const location = new URL(start.headers.get('location') ?? '');
  assert.equal(location.origin + location.pathname, service.issuer.authorizationEndpoint);
  assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(location.searchParams.get('redirect_uri'), `${service.origin}/console/callback`);

  // A callback without the login-state cookie (another browser, or expired) is refused.
  const stray = await fetch(`${service.url}/console/callback?code=x&state=y`, { redirect: 'manual' });
  assert.equal(stray.status, 400);
  assert.match(stray.headers.get('content-type') ?? '', /text\/html/);
  assert.match(stray.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const page = await stray.text();
  assert.match(page, /sign in again \(ERR_CONSOLE_SIGNIN_FAILED\)/);
  assert.match(page, /<a href="\/console\/">/);
});

test('an admin manages keys; every change is audited like the admin API, with the console user', async () => {
  const admin = await service.signIn('admin');
  const session = await apiCall(admin, 'GET', '/session');
  assert.deepEqual(session.body.roles, ['admin']);
  assert.equal((session.body.user as { userName: string }).userName, 'ada@example.test');

  const created = await apiCall(admin, 'POST', '/keys', { name: 'labels', protocol: 'ms-dke' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.labelUrl, `${service.origin}/labels`);
  assert.equal(created.body.backend, 'software');
  const bad = await apiCall(admin, 'PUT', '/keys/labels/policy', { users: ['\uff41lice@example.test'] });
  assert.equal(bad.status, 400);
  assert.match(String(bad.body.message), /policy\.users\[0\].*NFKC/);
  const policy = await apiCall(admin, 'PUT', '/keys/labels/policy', { users: ['Alice@Example.test'] });
  assert.equal(policy.status, 200);
  assert.deepEqual((policy.body.policy as { users: string[] }).users, ['alice@example.test']);
  assert.equal((await apiCall(admin, 'POST', '/keys/labels/rotate')).body.activeVersion, 2);
  assert.equal((await apiCall(admin, 'POST', '/keys/labels/disable')).body.state, 'disabled');
  const revoked = await apiCall(admin, 'PUT', '/keys/labels/revocations/AAAAAAAAAAAAAAAAAAAAAA');
  assert.deepEqual(revoked.body, { objectId: 'AAAAAAAAAAAAAAAAAAAAAA', revoked: true, changed: true });
  const mistyped = await apiCall(admin, 'POST', '/keys/labels/destroy', { confirm: 'label' });
  assert.equal(mistyped.status, 400);
  assert.equal(
    (await apiCall(admin, 'POST', '/keys/labels/destroy', { confirm: 'labels' })).body.state,
    'destroyed',
  );
  const importing = await apiCall(admin, 'POST', '/keys', { name: 'x', privateKeyPem: 'pem' });
  assert.equal(importing.status, 400);

  const records = (await service.auditRecords()).filter((r) => r.subject === 'ada');
  const actions = records.filter((r) => r.result === 'ok').map((r) => r.action);
  for (const action of [
    'console.signin',
    'admin.key.create',
    'admin.policy.set',
    'admin.key.rotate',
    'admin.key.disable',
    'admin.object.revoke',
    'admin.key.destroy',
  ]) {
    assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
  }
  const create = records.find((r) => r.action === 'admin.key.create' && r.result === 'allowed');
  assert.equal(create?.issuer, service.issuer.issuer);
  assert.equal(create?.userName, 'ada@example.test');
  assert.equal(create?.keyName, 'labels');
  assert.ok(records.some((r) => r.action === 'admin.policy.set' && r.result === 'failed'));
  assert.ok(records.some((r) => r.action === 'admin.key.destroy' && r.reason === 'ERR_BAD_REQUEST'));
});

test('a change without the CSRF token or from another origin is 403 and audited as denied', async () => {
  const admin = await service.signIn('admin');
  const before = (await service.auditRecords()).length;
  const noToken = await apiCall(admin, 'POST', '/keys', { name: 'csrf-a' }, { 'x-csrf-token': '' });
  assert.equal(noToken.status, 403);
  assert.equal(noToken.body.error, 'ERR_CSRF');
  const otherSession = await service.signIn('admin');
  const wrongToken = await apiCall(
    admin,
    'POST',
    '/keys',
    { name: 'csrf-b' },
    {
      'x-csrf-token': otherSession.csrfToken,
    },
  );
  assert.equal(wrongToken.status, 403);
  const crossOrigin = await apiCall(
    admin,
    'POST',
    '/keys',
    { name: 'csrf-c' },
    { origin: 'https://evil.example' },
  );
  assert.equal(crossOrigin.status, 403);
  const noOrigin = await fetch(`${service.url}/console/api/keys`, {
    method: 'POST',
    headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'csrf-d' }),
  });
  assert.equal(noOrigin.status, 403);
  const keys = (await apiCall(admin, 'GET', '/keys')).body.keys as { name: string }[];
  assert.ok(!keys.some((k) => k.name.startsWith('csrf-')), 'no key was created');
  const denied = (await service.auditRecords()).slice(before).filter((r) => r.result === 'denied');
  assert.equal(denied.length, 4);
  assert.ok(
    denied.every((r) => r.reason === 'ERR_CSRF' && r.action === 'admin.key.create' && r.subject === 'ada'),
  );
});

test('an auditor reads keys but every change is 403 ERR_ADMIN_REQUIRED, audited as denied', async () => {
  const admin = await service.signIn('admin');
  await apiCall(admin, 'POST', '/keys', { name: 'finance' });
  const auditor = await service.signIn('auditor');
  const keys = await apiCall(auditor, 'GET', '/keys');
  assert.equal(keys.status, 200);
  for (const [method, url, body] of [
    ['POST', '/keys/finance/disable', undefined],
    ['PUT', '/keys/finance/policy', { users: ['audrey@example.test'] }],
    ['POST', '/keys', { name: 'auditor-key' }],
  ] as const) {
    const answer = await apiCall(auditor, method, url, body);
    assert.equal(answer.status, 403, url);
    assert.equal(answer.body.error, 'ERR_ADMIN_REQUIRED');
  }
  const finance = (
    (await apiCall(admin, 'GET', '/keys')).body.keys as { name: string; state: string }[]
  ).find((k) => k.name === 'finance');
  assert.equal(finance?.state, 'enabled');
  const denied = (await service.auditRecords()).filter(
    (r) => r.subject === 'audrey' && r.result === 'denied',
  );
  assert.deepEqual(
    denied.map((r) => [r.action, r.keyName, r.reason]),
    [
      ['admin.key.disable', 'finance', 'ERR_ADMIN_REQUIRED'],
      ['admin.policy.set', 'finance', 'ERR_ADMIN_REQUIRED'],
      ['admin.key.create', undefined, 'ERR_ADMIN_REQUIRED'],
    ],
  );
});

test('a user without a console role is signed in but gets 403 everywhere', async () => {
  const nobody = await service.signIn('nobody');
  const session = await apiCall(nobody, 'GET', '/session');
  assert.deepEqual(session.body.roles, []);
  const keys = await apiCall(nobody, 'GET', '/keys');
  assert.equal(keys.status, 403);
  assert.equal(keys.body.error, 'ERR_CONSOLE_ROLE_REQUIRED');
  assert.equal(keys.body.keys, undefined);
  assert.equal((await apiCall(nobody, 'POST', '/keys', { name: 'nemo' })).status, 403);
  // Sign-out works for everyone and deletes the cookie.
  const out = await fetch(`${service.url}/console/api/logout`, {
    method: 'POST',
    headers: { cookie: nobody.cookie, 'x-csrf-token': nobody.csrfToken, origin: service.origin },
  });
  assert.equal(out.status, 200);
  assert.match(out.headers.getSetCookie().join('\n'), /opendke-console=;.*Expires=Thu, 01 Jan 1970/);
});

test('configuration: the console is off by default and checked strictly when on', () => {
  const base = { auth: { audience: 'a', issuers: [{ issuer: 'https://i.example', algorithms: ['ES256'] }] } };
  const load = (extra: Record<string, unknown>): unknown => {
    const file = path.join(service.dir, `c-${Math.random()}.json`);
    writeFileSyncJson(file, { ...base, ...extra });
    return loadConfig({ file, env: {} });
  };
  assert.equal((load({}) as { console: { enabled: boolean } }).console.enabled, false);
  const on = {
    enabled: true,
    issuer: 'https://login.example',
    clientId: 'c',
    adminValues: ['a'],
  };
  const refused = (extra: Record<string, unknown>, pattern: RegExp): void => {
    let error: unknown;
    try {
      load(extra);
    } catch (e) {
      error = e;
    }
    assert.ok(isDkeError(error, 'ERR_CONFIG_INVALID'), String(error));
    assert.match((error as Error).message, pattern);
  };
  refused({ console: on }, /server\.publicBaseUrl is required/);
  const server_ = { publicBaseUrl: 'https://dke.example' };
  assert.doesNotThrow(() => load({ server: server_, console: on }));
  refused({ server: server_, console: { ...on, issuer: 'http://login.example' } }, /https/);
  refused({ server: server_, console: { ...on, adminValues: [] } }, /adminValues or console\.auditorValues/);
  refused({ server: server_, console: { ...on, auditorValues: ['a'] } }, /both an admin and an auditor/);
  refused({ server: server_, console: { ...on, sessionMinutes: 100000 } }, /console\.sessionMinutes/);
  refused({ server: server_, console: { ...on, colour: 'blue' } }, /console\.colour is not a known field/);
  refused({ server: server_, console: { ...on, clientId: undefined } }, /console\.clientId is required/);
});

function writeFileSyncJson(file: string, value: unknown): void {
  // JSON.stringify drops undefined fields: `clientId: undefined` above means "not given".
  writeFileSync(file, JSON.stringify(value));
}

test('under an https public URL: __Host- cookies, Secure, Path=/, and HSTS', async () => {
  const httpsDir = mkdtempSync(path.join(tmpdir(), 'opendke-console-https-'));
  const port = await freePort();
  const file = writeConsoleConfig(httpsDir, service.issuer, port, 'https://dke.example.test');
  const tlsServer = await startServer(loadConfig({ file, env: {} }), {
    logDestination: { write: () => true },
  });
  try {
    const start = await fetch(`${tlsServer.url}/console/login`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    const login = start.headers.getSetCookie().find((c) => c.startsWith('__Host-opendke-login=')) ?? '';
    assert.match(login, /; Path=\/(;|$)/);
    assert.match(login, /; Secure/);
    assert.match(login, /; HttpOnly/);
    assert.doesNotMatch(login, /Domain=/i);
    assert.equal(
      new URL(start.headers.get('location') ?? '').searchParams.get('redirect_uri'),
      'https://dke.example.test/console/callback',
    );
    const page = await fetch(`${tlsServer.url}/console/`);
    assert.match(page.headers.get('strict-transport-security') ?? '', /max-age=31536000/);
    // The plain-http console of the other tests sends no HSTS.
    assert.equal((await fetch(`${service.url}/console/`)).headers.get('strict-transport-security'), null);
  } finally {
    await tlsServer.close();
    rmSync(httpsDir, { recursive: true, force: true });
  }
});

test('an unreachable issuer: sign-in answers 503 with a page, the rest of the service serves on', async () => {
  const downDir = mkdtempSync(path.join(tmpdir(), 'opendke-console-down-'));
  const port = await freePort();
  const file = writeConsoleConfig(downDir, service.issuer, port, `http://localhost:${port}`);
  const config = JSON.parse(readFileSync(file, 'utf8')) as { console: { issuer: string } };
  config.console.issuer = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  writeFileSync(file, JSON.stringify(config));
  const down = await startServer(loadConfig({ file, env: {} }), { logDestination: { write: () => true } });
  try {
    const login = await fetch(`${down.url}/console/login`, { redirect: 'manual' });
    assert.equal(login.status, 503);
    assert.match(await login.text(), /ERR_CONSOLE_ISSUER_UNAVAILABLE/);
    assert.equal((await fetch(`${down.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${down.url}/console/`)).status, 200);
  } finally {
    await down.close();
    rmSync(downDir, { recursive: true, force: true });
  }
});
