/**
 * runDoctor in-process against real servers on loopback: the service over TLS (trusted, untrusted, wrong
 * host), a service that never answers (timeout, not a hang), issuers whose clock is off, whose discovery
 * names another issuer, or whose key set has no key for the pinned algorithm.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IssuerConfig } from '../../src/auth/index.js';
import type { ServiceConfig } from '../../src/config/index.js';
import { runDoctor, type DoctorReport, type Finding } from '../../src/doctor/index.js';
import { probe } from '../../src/doctor/http-probe.js';
import { checkCertificate } from '../../src/doctor/tls-certificate.js';
import { repoRoot } from '../support/paths.js';
import { startHarness, type Harness } from '../service/harness.js';

const FIXTURES = path.join(repoRoot, 'test', 'service', 'fixtures');
const CA = readFileSync(path.join(FIXTURES, 'tls-cert.pem'), 'utf8');

function findingOf(report: DoctorReport, id: string): Finding {
  const found = report.findings.find((f) => f.id === id);
  assert.ok(found, `no finding ${id} in ${report.findings.map((f) => f.id).join(', ')}`);
  return found;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

interface MetadataServerOptions {
  /** Added to the Date header, seconds. */
  readonly clockOffsetSeconds?: number;
  /** The issuer named in discovery (default: its own URL). */
  readonly namedIssuer?: (self: string) => string;
  readonly jwks: unknown;
}

/** A real OIDC metadata server (discovery and JWKS only) whose Date header and issuer name we choose. */
async function startMetadataServer(
  options: MetadataServerOptions,
): Promise<{ url: string; close: () => Promise<void> }> {
  let self = '';
  const server = createHttpServer((req, res) => {
    const date = new Date(Date.now() + (options.clockOffsetSeconds ?? 0) * 1000).toUTCString();
    const body =
      req.url === '/.well-known/openid-configuration'
        ? { issuer: options.namedIssuer?.(self) ?? self, jwks_uri: `${self}/jwks` }
        : req.url === '/jwks'
          ? options.jwks
          : undefined;
    res.setHeader('date', date);
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: 'not_found' }));
  });
  self = await listen(server);
  return {
    url: self,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('runDoctor: TLS of the service', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      server: {
        tls: { certFile: path.join(FIXTURES, 'tls-cert.pem'), keyFile: path.join(FIXTURES, 'tls-key.pem') },
      },
    });
  });
  after(() => h.close());

  it('a certificate trusted through --ca, for the host, far from expiry: ok, with the days left', async () => {
    const report = await runDoctor({ url: h.server.url, ca: CA });
    assert.equal(findingOf(report, 'service:reachable').status, 'ok');
    assert.equal(findingOf(report, 'tls:chain').status, 'ok');
    assert.equal(findingOf(report, 'tls:host').status, 'ok');
    const expiry = findingOf(report, 'tls:expiry');
    assert.equal(expiry.status, 'ok');
    assert.match(expiry.summary, /^certificate valid for \d+ more days \(until 2126-10-30T23:51:44\.000Z\)$/);
    assert.ok(Number(expiry.details.daysLeft) > 30_000);
  });

  it('a self-signed certificate nobody trusts fails the chain check, with the fix', async () => {
    const report = await runDoctor({ url: h.server.url });
    const chain = findingOf(report, 'tls:chain');
    assert.equal(chain.status, 'fail');
    assert.match(chain.summary, /DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.match(chain.fix ?? '', /self-signed: Office does not trust it/);
    assert.equal(report.ok, false);
  });

  it('the same certificate seen near and past its end, and before its start: warn, fail, fail', async () => {
    const answer = await probe(`${h.server.url}/healthz`, { timeoutMs: 5000, ca: CA });
    assert.ok(answer.ok);
    const url = new URL(h.server.url);
    const notAfter = Date.parse('2126-10-30T23:51:44Z');
    const expiry = (now: number): Finding => {
      const found = checkCertificate(url, answer.tls, now).find((f) => f.id === 'tls:expiry');
      assert.ok(found);
      return found;
    };
    const soon = expiry(notAfter - 5.5 * 86_400_000);
    assert.equal(soon.status, 'warn');
    assert.match(soon.summary, /^certificate expires in 5 days/);
    assert.equal(expiry(notAfter - 30 * 86_400_000).status, 'ok');
    const expired = expiry(notAfter + 2.5 * 86_400_000);
    assert.equal(expired.status, 'fail');
    assert.match(expired.summary, /expired 2126-10-30T23:51:44\.000Z \(2 days ago\)/);
    const early = expiry(Date.parse('2026-01-01T00:00:00Z'));
    assert.equal(early.status, 'fail');
    assert.match(early.summary, /not valid before 2026-11-23T23:51:44\.000Z/);
  });

  it('a certificate for another host fails the host check', async () => {
    const report = await runDoctor({ url: h.server.url.replace('127.0.0.1', 'localhost'), ca: CA });
    const host = findingOf(report, 'tls:host');
    assert.equal(host.status, 'fail');
    assert.match(host.summary, /not valid for localhost \(it names IP Address:127\.0\.0\.1\)/);
  });
});

describe('runDoctor: a service that does not answer', () => {
  it('times out into a finding instead of hanging', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => void sockets.push(socket));
    const url = await new Promise<string>((resolve) =>
      silent.listen(0, '127.0.0.1', () =>
        resolve(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`),
      ),
    );
    try {
      const started = Date.now();
      const report = await runDoctor({ url, keyNames: ['contoso'], timeoutMs: 300 });
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      const reachable = findingOf(report, 'service:reachable');
      assert.equal(reachable.status, 'fail');
      assert.match(reachable.summary, /no answer within 300 ms/);
      assert.equal(findingOf(report, 'ms-dke-key').status, 'skip');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('runDoctor: the admin token', () => {
  it('is never sent over plain http to a host that is not loopback', async () => {
    const received: string[] = [];
    const server = createHttpServer((req, res) => {
      received.push(req.headers.authorization ?? '');
      res.writeHead(404).end();
    });
    const local = await listen(server);
    try {
      // dke.invalid never resolves (RFC 6761): the guard refuses before any connection.
      const report = await runDoctor({
        url: 'http://dke.invalid',
        adminToken: 'secret-token',
        timeoutMs: 500,
      });
      assert.equal(findingOf(report, 'keys').status, 'warn');
      assert.match(
        findingOf(report, 'keys').summary,
        /the admin token is not sent to http:\/\/dke\.invalid\/admin\/keys/,
      );
      await runDoctor({ url: local, adminToken: 'loopback-token', timeoutMs: 2000 });
      assert.ok(received.includes('Bearer loopback-token'), 'sent to loopback');
      assert.ok(!received.some((value) => value.includes('secret-token')));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('runDoctor: issuers', () => {
  let h: Harness;
  const servers: { close: () => Promise<void> }[] = [];
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    for (const server of servers) await server.close();
    await h.close();
  });

  async function doctorWithIssuer(
    options: MetadataServerOptions,
    overrides: Partial<IssuerConfig> = {},
  ): Promise<{ report: DoctorReport; issuer: string }> {
    const server = await startMetadataServer(options);
    servers.push(server);
    const auth = h.config.auth as { audience: string; issuers: IssuerConfig[] };
    const issuer: IssuerConfig = { issuer: server.url, algorithms: [h.issuer.alg], ...overrides };
    const config: ServiceConfig = { ...h.config, auth: { ...auth, issuers: [issuer] } };
    return { report: await runDoctor({ config, url: h.server.url, readStore: false }), issuer: server.url };
  }

  it('an issuer whose clock is 5 minutes ahead of the service: the clock check fails, the metadata is ok', async () => {
    const { report, issuer } = await doctorWithIssuer({
      clockOffsetSeconds: 300,
      jwks: h.issuer.publicJwks(),
    });
    assert.equal(findingOf(report, `issuer:${issuer}`).status, 'ok');
    const clock = findingOf(report, `clock:${issuer}`);
    assert.equal(clock.status, 'fail');
    assert.match(
      clock.summary,
      /is 30\d\.\d s ahead of the service's: more than the 60 s tokens are allowed/,
    );
    assert.match(clock.fix ?? '', /NTP/);
  });

  it('an issuer 20 s off: a warning; within the tolerance and the measurement: ok', async () => {
    const off = await doctorWithIssuer({ clockOffsetSeconds: -20, jwks: h.issuer.publicJwks() });
    assert.equal(findingOf(off.report, `clock:${off.issuer}`).status, 'warn');
    const near = await doctorWithIssuer({ clockOffsetSeconds: 0, jwks: h.issuer.publicJwks() });
    assert.equal(findingOf(near.report, `clock:${near.issuer}`).status, 'ok');
  });

  it('discovery naming another issuer (a trailing slash) fails with the exact string to configure', async () => {
    const { report, issuer } = await doctorWithIssuer({
      namedIssuer: (self) => `${self}/`,
      jwks: h.issuer.publicJwks(),
    });
    const found = findingOf(report, `issuer:${issuer}`);
    assert.equal(found.status, 'fail');
    assert.match(found.summary, /discovery names issuer ".*\/", the config says ".*\d"/);
    assert.match(found.fix ?? '', new RegExp(`set issuer to exactly "${issuer}/"`));
  });

  it('a key set without a key for the pinned algorithm fails; an empty one too', async () => {
    const wrongAlg = await doctorWithIssuer({ jwks: h.issuer.publicJwks() }, { algorithms: ['RS256'] });
    const found = findingOf(wrongAlg.report, `issuer:${wrongAlg.issuer}`);
    assert.equal(found.status, 'fail');
    assert.match(found.summary, /has no signing key for RS256/);
    const empty = await doctorWithIssuer({ jwks: { keys: [] } });
    assert.equal(findingOf(empty.report, `issuer:${empty.issuer}`).status, 'fail');
    const notASet = await doctorWithIssuer({ jwks: { key: 'x' } });
    assert.match(findingOf(notASet.report, `issuer:${notASet.issuer}`).summary, /not a JWK set/);
  });
});
