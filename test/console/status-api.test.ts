/**
 * The Status page's endpoint over real HTTP (docs/console.md, "Status"): `dke doctor`'s checks of the
 * running service from inside it (its public URL, the issuer, the keys, the store read-only), briefly kept,
 * audited, refused without a role.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusAnswer } from '../../src/console/status-api.js';
import { startConsoleService, type ConsoleService, type HttpSession } from '../support/console.js';

let service: ConsoleService;
let auditor: HttpSession;

before(async () => {
  service = await startConsoleService({ name: 'status' });
  auditor = await service.signIn('auditor');
});
after(() => service.close());

const status = (session: HttpSession, query = '') =>
  service.call<StatusAnswer>(session, 'GET', `/status${query}`);

test('the doctor runs against this service from inside it; the result is kept briefly', async () => {
  const started = Date.now();
  const first = await status(auditor);
  const tookMs = Date.now() - started;
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const { report } = first.body;
  assert.equal(first.body.cached, false);
  assert.ok(tookMs < 15_000, `took ${tookMs} ms`);
  assert.equal(report.url, service.url.replace('127.0.0.1', 'localhost'));
  const ids = report.findings.map((f) => f.id);
  for (const id of [
    'public-url',
    'service:reachable',
    'health:store',
    'audit:checkpoint',
    `issuer:${service.issuer.issuer}`,
  ])
    assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
  const reachable = report.findings.find((f) => f.id === 'service:reachable');
  assert.equal(reachable?.status, 'ok', JSON.stringify(reachable));
  for (const f of report.findings) {
    assert.ok(['ok', 'warn', 'fail', 'skip'].includes(f.status));
    assert.ok(f.summary.length > 0);
    if (f.status === 'warn' || f.status === 'fail') assert.ok((f.fix ?? '').length > 0, f.id);
  }
  const counted = Object.values(report.counts).reduce((a, b) => a + b, 0);
  assert.equal(counted, report.findings.length);
  assert.equal(report.ok, report.counts.fail === 0);

  const again = await status(auditor);
  assert.equal(again.body.cached, true);
  assert.equal(again.body.checkedAt, first.body.checkedAt);
  // A re-run right away is still answered from the run just made (a flood guard) ...
  const rerun = await status(auditor, '?rerun=true');
  assert.equal(rerun.body.checkedAt, first.body.checkedAt);
  const bad = await status(auditor, '?rerun=yes');
  assert.equal(bad.status, 400);
});

test('no role: 403; every call is audited', async () => {
  const nobody = await service.signIn('nobody');
  const refused = await status(nobody);
  assert.equal(refused.status, 403);
  const records = (await service.auditRecords()).filter((r) => r.action === 'console.status.get');
  assert.ok(records.some((r) => r.subject === 'audrey' && r.result === 'ok'));
  assert.ok(records.some((r) => r.subject === 'nemo' && r.result === 'denied'));
});
