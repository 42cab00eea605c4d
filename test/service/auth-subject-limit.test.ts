/**
 * Failed authentication per token subject (issue 9 item 5) over real HTTP: refused tokens whose signature
 * verified count against their issuer+subject as well as their client address, so one subject spread over
 * many addresses is limited too; forged tokens naming a subject never count against it (nobody can lock a
 * victim out); the security events name issuer and subject when known, queryable by the admin API and CLI.
 * Client addresses come from X-Forwarded-For, believed because 127.0.0.1 is a trusted proxy here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { cliPath } from '../support/paths.js';
import {
  expiredToken,
  foreignKeyToken,
  issuerConfigFor,
  TEST_CLAIMS,
  validToken,
  wrongAudienceToken,
} from '../support/issuer.js';
import { ADMIN_ROLE, startHarness, type Harness } from './harness.js';
import { assertError } from './assertions.js';
import { eventually, metricValue, securityEvents } from './security-probes.js';

const VICTIM = 'victim-sub';
const OTHER = 'other-sub';
const MAX_FAILURES = 4;
const MAX_LIFETIME = 3600;

interface SecurityEvent {
  readonly clientAddress: string;
  readonly reason: string;
  readonly issuer: string;
  readonly subject: string;
  readonly count: number;
}

describe('failed authentication per issuer and subject', () => {
  let h: Harness;
  let admin: string;
  let address = 0;
  /** A client address nobody used before, so no address limit is ever reached. */
  const fresh = (): string => `198.51.100.${(address += 1)}`;
  const call = (token: string, from = fresh()) =>
    h.request('GET', '/admin/keys', { token, headers: { 'x-forwarded-for': from } });
  const events = (query = ''): Promise<SecurityEvent[]> => securityEvents(h, admin, query);
  const metric = (pattern: RegExp): Promise<number> => metricValue(h, pattern);
  const now = (): number => Math.floor(Date.now() / 1000);
  const tooLong = (sub: string) => validToken(h.issuer, { sub, iat: now(), exp: now() + 2 * MAX_LIFETIME });

  before(async () => {
    h = await startHarness({
      server: {
        trustedProxies: ['127.0.0.1'],
        authFailureLimit: { maxFailures: MAX_FAILURES, windowSeconds: 60, blockSeconds: 30 },
      },
      issuers: (issuer) => [
        issuerConfigFor(issuer, {
          ...TEST_CLAIMS,
          adminRoles: [ADMIN_ROLE],
          maxTokenLifetimeSeconds: MAX_LIFETIME,
        }),
      ],
    });
    admin = await h.adminToken();
  });
  after(() => h.close());

  it('forged tokens naming a subject do not count against it', async () => {
    for (let i = 0; i < 3 * MAX_FAILURES; i += 1) {
      assertError(await call(await foreignKeyToken(h.issuer, { sub: VICTIM })), 'ERR_AUTH_INVALID');
    }
  });

  it('verified but refused tokens of one subject from many addresses get 429 after maxFailures', async () => {
    const refused = [
      () => expiredToken(h.issuer, { sub: VICTIM }),
      () => wrongAudienceToken(h.issuer, { sub: VICTIM }),
      () => tooLong(VICTIM),
    ];
    const usedAddress = fresh();
    assertError(await call(await expiredToken(h.issuer, { sub: VICTIM }), usedAddress), 'ERR_AUTH_INVALID');
    for (let i = 1; i < MAX_FAILURES; i += 1) {
      assertError(await call(await refused[i % refused.length]!()), 'ERR_AUTH_INVALID');
    }
    // No address failed more than once; the subject now has.
    for (const token of refused) {
      const limited = await call(await token());
      assertError(limited, 'ERR_RATE_LIMITED');
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(retryAfter > 0 && retryAfter <= 30, `Retry-After ${retryAfter}`);
    }
    // Another subject is not affected; a valid token of the limited subject is served, from anywhere.
    assertError(await call(await expiredToken(h.issuer, { sub: OTHER })), 'ERR_AUTH_INVALID');
    const valid = await validToken(h.issuer, { sub: VICTIM, roles: [ADMIN_ROLE] });
    assert.equal((await call(valid)).status, 200);
    assert.equal((await call(valid, usedAddress)).status, 200);

    assert.equal(await metric(/^dke_auth_rate_limited_total\{by="subject"\}/), refused.length);
    assert.equal(await metric(/^dke_auth_rate_limited_total\{by="address"\}/), 0);
  });

  it('security events name issuer and subject of verified tokens only; queryable by subject', async () => {
    const victims = await eventually(
      () => events(`?subject=${VICTIM}&limit=1000`),
      (list) => list.some((e) => e.reason === 'ERR_RATE_LIMITED'),
    );
    const counts: Record<string, number> = {};
    for (const e of victims) {
      assert.equal(e.subject, VICTIM);
      assert.equal(e.issuer, h.issuer.issuer);
      counts[e.reason] = (counts[e.reason] ?? 0) + e.count;
    }
    assert.deepEqual(counts, { ERR_AUTH_INVALID: MAX_FAILURES, ERR_RATE_LIMITED: 3 });
    const byIssuer = await events(`?issuer=${encodeURIComponent(h.issuer.issuer)}&limit=1000`);
    assert.ok(byIssuer.some((e) => e.subject === OTHER));
    assert.ok(byIssuer.every((e) => e.issuer === h.issuer.issuer));

    // The forged tokens (addresses 1-12) are recorded without an identity.
    const forged = await events('?address=198.51.100.1');
    assert.deepEqual(
      forged.map((e) => [e.reason, e.issuer, e.subject, e.count]),
      [['ERR_AUTH_INVALID', '', '', 1]],
    );
    assertError(
      await h.request('GET', '/admin/security-events?subject=', { token: admin }),
      'ERR_BAD_REQUEST',
    );
    assertError(
      await h.request('GET', `/admin/security-events?subject=${'x'.repeat(300)}`, { token: admin }),
      'ERR_BAD_REQUEST',
    );
  });

  it('dke audit security --subject/--issuer lists them, issuer and subject shown', () => {
    const cli = (...args: string[]) => {
      const run = spawnSync(
        process.execPath,
        [cliPath, 'audit', 'security', '--config', h.configFile, ...args],
        { encoding: 'utf8', env: { ...process.env, DKE_MASTER_KEY: '' } },
      );
      assert.equal(run.status, 0, run.stderr);
      return run.stdout.split('\n').filter((line) => line !== '');
    };
    const listed = cli('--subject', VICTIM, '--issuer', h.issuer.issuer, '--json').map(
      (line) => JSON.parse(line) as SecurityEvent,
    );
    assert.ok(listed.length > 0);
    for (const e of listed) assert.deepEqual([e.issuer, e.subject], [h.issuer.issuer, VICTIM]);
    const text = cli('--subject', OTHER);
    assert.equal(text.length, 1, text.join('\n'));
    assert.ok(text[0]?.includes(`\t${h.issuer.issuer}\t${OTHER}`), text[0]);
    assert.deepEqual(cli('--subject', 'nobody'), []);
  });
});
