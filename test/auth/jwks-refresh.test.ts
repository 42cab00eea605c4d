/** Discovery and the key-set cache: refresh on rotation, rate limiting, timeouts, discovery checks. */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAuthenticator } from '../../src/auth/index.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import {
  authConfigFor,
  bearer,
  issuerConfigFor,
  startTestIssuer,
  unknownKidToken,
  validToken,
} from '../support/issuer.js';
import { rejectsWith } from './expect-auth.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

async function issuer(): Promise<DevIssuer> {
  const started = await startTestIssuer();
  cleanup.push(() => started.close());
  return started;
}

test('rotation: a new kid triggers a refresh once the cooldown has passed', async () => {
  const iss = await issuer();
  const auth = createAuthenticator(authConfigFor([issuerConfigFor(iss, { jwksCooldownSeconds: 1 })]));
  const before = await validToken(iss);
  await auth.authenticate(bearer(before));
  assert.deepEqual(iss.stats, { discovery: 1, jwks: 1, token: 0, authorize: 0 });

  await iss.rotateKey();
  const rotated = await validToken(iss);
  // Within the cooldown the unknown kid is refused without asking the issuer.
  await rejectsWith(auth.authenticate(bearer(rotated)), 'ERR_AUTH_INVALID', /key not known/);
  assert.equal(iss.stats.jwks, 1);

  await sleep(1050);
  assert.equal((await auth.authenticate(bearer(rotated))).subject, 'user-1');
  assert.equal(iss.stats.jwks, 2);
  assert.equal(iss.stats.discovery, 1, 'discovery is not repeated');
  // The old key is still published, so older tokens stay valid.
  await auth.authenticate(bearer(before));
  assert.equal(iss.stats.jwks, 2);
});

test('a dropped key stops verifying after the next refresh', async () => {
  const iss = await issuer();
  const auth = createAuthenticator(authConfigFor([issuerConfigFor(iss, { jwksCooldownSeconds: 0 })]));
  const old = await validToken(iss);
  await auth.authenticate(bearer(old));
  await iss.rotateKey({ dropPrevious: true });
  await auth.authenticate(bearer(await validToken(iss))); // unknown kid: refresh (cooldown 0)
  await rejectsWith(auth.authenticate(bearer(old)), 'ERR_AUTH_INVALID');
});

test('a flood of unknown-kid tokens costs the issuer at most one key-set fetch per cooldown', async () => {
  const iss = await issuer();
  const auth = createAuthenticator(authConfigFor([issuerConfigFor(iss)])); // default cooldown 30 s
  const flood = await Promise.all(Array.from({ length: 40 }, () => unknownKidToken(iss)));
  // Concurrent first requests share one discovery and one key-set fetch.
  const results = await Promise.allSettled(flood.slice(0, 20).map((t) => auth.authenticate(bearer(t))));
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.deepEqual(iss.stats, { discovery: 1, jwks: 1, token: 0, authorize: 0 });
  // Later ones, sequential or concurrent, are refused from the cache.
  for (const t of flood.slice(20, 30)) await rejectsWith(auth.authenticate(bearer(t)), 'ERR_AUTH_INVALID');
  await Promise.allSettled(flood.slice(30).map((t) => auth.authenticate(bearer(t))));
  assert.equal(iss.stats.jwks, 1);
  assert.equal(auth.keyStats(iss.issuer)?.jwksFetches, 1);
  // Valid tokens keep working throughout.
  await auth.authenticate(bearer(await validToken(iss)));
});

test('the cached key set is fetched again when it gets old', async () => {
  const iss = await issuer();
  const auth = createAuthenticator(
    authConfigFor([issuerConfigFor(iss, { jwksCacheSeconds: 1, jwksCooldownSeconds: 0 })]),
  );
  const token = await validToken(iss);
  await auth.authenticate(bearer(token));
  await auth.authenticate(bearer(token));
  assert.equal(iss.stats.jwks, 1);
  await sleep(1050);
  await auth.authenticate(bearer(token));
  assert.equal(iss.stats.jwks, 2);
});

test('while the issuer is down, old keys serve until twice the cache lifetime, then nothing does', async () => {
  const iss = await issuer();
  const auth = createAuthenticator(
    authConfigFor([
      issuerConfigFor(iss, { jwksCacheSeconds: 1.5, jwksCooldownSeconds: 0, fetchTimeoutMs: 500 }),
    ]),
  );
  const token = await validToken(iss);
  await auth.authenticate(bearer(token));
  await iss.close();
  await sleep(1600);
  await auth.authenticate(bearer(token)); // stale, refresh fails: still served
  await sleep(1500);
  await rejectsWith(auth.authenticate(bearer(token)), 'ERR_AUTH_INVALID', /keys unavailable/);
});

test('jwksUri skips discovery', async () => {
  const iss = await issuer();
  const auth = createAuthenticator(authConfigFor([issuerConfigFor(iss, { jwksUri: iss.jwksUri })]));
  await auth.authenticate(bearer(await validToken(iss)));
  assert.deepEqual(iss.stats, { discovery: 0, jwks: 1, token: 0, authorize: 0 });
});

test('discovery naming another issuer is refused, and not retried within the cooldown', async () => {
  const [mine, other] = await Promise.all([issuer(), issuer()]);
  const auth = createAuthenticator(
    authConfigFor([
      issuerConfigFor(mine, { discoveryUrl: `${other.issuer}/.well-known/openid-configuration` }),
    ]),
  );
  await rejectsWith(
    auth.authenticate(bearer(await validToken(mine))),
    'ERR_AUTH_INVALID',
    /keys unavailable/,
  );
  await rejectsWith(
    auth.authenticate(bearer(await validToken(mine))),
    'ERR_AUTH_INVALID',
    /keys unavailable/,
  );
  assert.equal(other.stats.discovery, 1);
  assert.equal(other.stats.jwks + mine.stats.jwks, 0);
});

test('a key-set endpoint that never answers times out and is not hammered', async () => {
  const iss = await issuer();
  const sockets = new Set<Socket>();
  // Count only requests for our own path: on a shared machine, strays may connect to any port.
  const path = `/jwks-${randomUUID()}`;
  let requests = 0;
  const silent: Server = createServer((socket) => {
    sockets.add(socket); // accept, read, never answer
    socket.on('data', (data: Buffer) => {
      if (data.toString('latin1').startsWith(`GET ${path} `)) requests += 1;
    });
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const port = (silent.address() as AddressInfo).port;
  const auth = createAuthenticator(
    authConfigFor([
      issuerConfigFor(iss, { jwksUri: `http://127.0.0.1:${port}${path}`, fetchTimeoutMs: 200 }),
    ]),
  );
  const started = Date.now();
  await rejectsWith(auth.authenticate(bearer(await validToken(iss))), 'ERR_AUTH_INVALID', /keys unavailable/);
  assert.ok(Date.now() - started < 2000, 'the fetch timeout applies');
  await rejectsWith(auth.authenticate(bearer(await validToken(iss))), 'ERR_AUTH_INVALID', /keys unavailable/);
  assert.equal(requests, 1, 'no second fetch within the cooldown');
  const error = await auth.authenticate(bearer(await validToken(iss))).catch((e: unknown) => e);
  assert.match(String((error as { detail?: string }).detail), /timed out/);
});

test('an unreachable issuer is refused quickly', async () => {
  const iss = await issuer();
  const url = iss.issuer;
  await iss.close();
  const auth = createAuthenticator(
    authConfigFor([{ issuer: url, algorithms: ['ES256'], fetchTimeoutMs: 500 }]),
  );
  await rejectsWith(auth.authenticate(bearer(await validToken(iss))), 'ERR_AUTH_INVALID', /keys unavailable/);
});
