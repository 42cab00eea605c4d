/**
 * `dke doctor` against a real `dke serve` over real HTTP, with the real dev issuer: a healthy service, a
 * wrong audience, an unreachable issuer, a disabled key (through the store and through the admin API).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { EXIT } from '../../src/errors/index.js';
import { startTestIssuer } from '../support/issuer.js';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../support/server-process.js';
import { ADMIN_ROLE, dke, findingOf, notOk, parseReport, writeServiceConfig } from './support.js';
import { freePort } from '../support/free-port.js';

async function waitForCheckpoint(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/audit/checkpoint`);
    await response.body?.cancel();
    if (response.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} published no checkpoint within 20 s`);
}

describe('dke doctor against dke serve', () => {
  let dir: string;
  let issuer: DevIssuer;
  let port: number;
  let configFile: string;
  let server: ServerProcess;
  let url: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dke-doctor-'));
    issuer = await startTestIssuer();
    port = await freePort();
    configFile = writeServiceConfig(dir, 'dke.json', issuer, { port });
    for (const args of [
      ['key', 'create', 'contoso', '--protocol', 'ms-dke', '--cache-seconds', '3600'],
      ['key', 'create', 'finance'],
    ]) {
      const run = await dke([...args, '-c', configFile]);
      assert.equal(run.status, 0, run.stderr);
    }
    server = await startServerProcess(configFile, { cwd: dir });
    url = `http://127.0.0.1:${port}`;
    assert.equal(server.url, url);
    // A service publishes its first checkpoint within audit.log.checkpointIntervalSeconds of starting;
    // before that doctor rightly warns. The healthy case starts once it is there.
    await waitForCheckpoint(url);
  });

  after(async () => {
    await stopServerProcess(server);
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a healthy service: every check ok, the label URL printed, exit 0', async () => {
    const run = await dke(['doctor', '-c', configFile, '--json']);
    const report = parseReport(run);
    assert.equal(run.status, 0, `${notOk(report)}\n${run.stderr}`);
    assert.equal(report.ok, true);
    assert.equal(report.counts.warn, 0, notOk(report));
    assert.equal(report.counts.fail, 0, notOk(report));
    assert.equal(report.counts.skip, 0, notOk(report));
    for (const id of [
      'public-url',
      'service:reachable',
      'health:store',
      'clock:service',
      'keys',
      'key:all',
      'ms-dke-key:contoso',
      'audience:config',
      'audience:challenge',
      `issuer:${issuer.issuer}`,
      `clock:${issuer.issuer}`,
      'audit:checkpoint',
    ]) {
      assert.equal(findingOf(report, id).status, 'ok', id);
    }
    const key = findingOf(report, 'ms-dke-key:contoso');
    assert.equal(key.details.labelUrl, `${url}/contoso`);
    assert.equal(key.details.modulusBits, 2048);
    assert.match(String(key.details.cacheExp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    // The native key is no MS DKE key: no GET check for it.
    assert.equal(
      report.findings.some((f) => f.id === 'ms-dke-key:finance'),
      false,
    );

    const text = await dke(['doctor', '-c', configFile]);
    assert.equal(text.status, 0, text.stdout + text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`^ok +ms-dke-key:contoso +label URL ${url}/contoso \\(RSA-2048`, 'm'),
    );
    assert.match(text.stdout, /\d+ ok, 0 warnings, 0 failed, 0 skipped/);
    assert.equal(text.stderr, '');
  });

  it('a wrong audience: audience and challenge fail, exit 11', async () => {
    const wrongPort = await freePort();
    const wrongConfig = writeServiceConfig(dir, 'wrong-audience.json', issuer, {
      port: wrongPort,
      audience: 'https://dke.example.com',
      database: 'wrong-audience.db',
    });
    const created = await dke(['key', 'create', 'contoso', '--protocol', 'ms-dke', '-c', wrongConfig]);
    assert.equal(created.status, 0, created.stderr);
    const wrong = await startServerProcess(wrongConfig, { cwd: dir });
    try {
      const run = await dke(['doctor', '-c', wrongConfig, '--json']);
      assert.equal(run.status, EXIT.CHECKS_FAILED, run.stderr);
      assert.match(run.stderr, /dke: error: 2 of \d+ checks failed/);
      const report = parseReport(run);
      assert.equal(report.ok, false);
      const configured = findingOf(report, 'audience:config');
      assert.equal(configured.status, 'fail');
      assert.match(configured.summary, /not on the service's host 127\.0\.0\.1/);
      assert.match(configured.fix ?? '', /Application ID URI/);
      const challenge = findingOf(report, 'audience:challenge');
      assert.equal(challenge.status, 'fail');
      assert.equal(challenge.details.resource, 'https://dke.example.com');
      assert.equal(report.counts.fail, 2, notOk(report));
    } finally {
      await stopServerProcess(wrong);
    }
  });

  it('an unreachable issuer: a failed finding, quickly, no crash; the other issuer still ok', async () => {
    const closed = await freePort();
    const gone = `http://127.0.0.1:${closed}`;
    const variant = writeServiceConfig(dir, 'unreachable-issuer.json', issuer, {
      port,
      extraIssuers: [{ issuer: gone, algorithms: ['RS256'] }],
    });
    const started = Date.now();
    const run = await dke(['doctor', '-c', variant, '--json', '--timeout', '2000']);
    assert.ok(Date.now() - started < 20_000);
    assert.equal(run.status, EXIT.CHECKS_FAILED, run.stderr);
    assert.doesNotMatch(run.stderr, /\n\s+at /); // no stack trace
    const report = parseReport(run);
    const unreachable = findingOf(report, `issuer:${gone}`);
    assert.equal(unreachable.status, 'fail');
    assert.match(unreachable.summary, /discovery unreachable: .*connection refused/);
    assert.equal(findingOf(report, `clock:${gone}`).status, 'skip');
    assert.equal(findingOf(report, `issuer:${issuer.issuer}`).status, 'ok');
    assert.equal(report.counts.fail, 1, notOk(report));
  });

  it('a disabled key: reported from the store and through the admin API, as warnings (exit 0)', async () => {
    const disabled = await dke(['key', 'disable', 'contoso', '-c', configFile]);
    assert.equal(disabled.status, 0, disabled.stderr);
    try {
      const run = await dke(['doctor', '-c', configFile, '--json']);
      assert.equal(run.status, 0, run.stderr);
      const report = parseReport(run);
      const state = findingOf(report, 'key:contoso');
      assert.equal(state.status, 'warn');
      assert.match(state.summary, /is disabled/);
      assert.match(state.fix ?? '', /dke key enable contoso/);
      const served = findingOf(report, 'ms-dke-key:contoso');
      assert.equal(served.status, 'warn');
      assert.equal(served.details.status, 403);

      // Without the store: the admin API with a token from a file (never on the command line).
      const tokenFile = path.join(dir, 'admin.token');
      writeFileSync(
        tokenFile,
        await issuer.signToken({ sub: 'admin-1', upn: 'admin@example.test', roles: [ADMIN_ROLE], aud: url }),
        { mode: 0o600 },
      );
      const remote = await dke(['doctor', '--url', url, '--token-file', tokenFile, '--json']);
      assert.equal(remote.status, 0, remote.stderr);
      const viaApi = parseReport(remote);
      assert.match(findingOf(viaApi, 'keys').summary, /read from .*\/admin\/keys/);
      assert.equal(findingOf(viaApi, 'key:contoso').status, 'warn');
      assert.equal(findingOf(viaApi, 'issuer').status, 'skip');
    } finally {
      const enabled = await dke(['key', 'enable', 'contoso', '-c', configFile]);
      assert.equal(enabled.status, 0, enabled.stderr);
    }
  });

  it('an admin token that is refused, and no key access at all: said plainly, not fatal', async () => {
    const tokenFile = path.join(dir, 'user.token');
    writeFileSync(tokenFile, await issuer.signToken({ sub: 'user-1', aud: url }), { mode: 0o600 });
    const refused = parseReport(await dke(['doctor', '--url', url, '--token-file', tokenFile, '--json']));
    assert.equal(findingOf(refused, 'keys').status, 'warn');
    assert.match(findingOf(refused, 'keys').summary, /refused \(403\)/);

    const byName = await dke(['doctor', '--url', url, '--key', 'contoso', '--json']);
    assert.equal(byName.status, 0, byName.stderr);
    const report = parseReport(byName);
    assert.equal(findingOf(report, 'keys').status, 'skip');
    assert.equal(findingOf(report, 'ms-dke-key:contoso').status, 'ok');
    assert.equal(findingOf(report, 'audience:challenge').status, 'ok');
  });
});
