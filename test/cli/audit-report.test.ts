/** `dke audit report` as a user runs it: the compiled CLI in a child process over a real config and store. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../src/errors/index.js';
import type { IncidentReport } from '../../src/report/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { cliPath } from '../support/paths.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';
import { SINCE, UNTIL, writeIncident } from '../report/fixture.js';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('dke audit report', () => {
  let dir: string;
  const dke = (...args: string[]): Run => {
    const result = spawnSync(process.execPath, [cliPath, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DKE_MASTER_KEY: '' },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const configFor = (database: string): string => {
    const file = path.join(dir, `${database}.yaml`);
    writeFileSync(file, JSON.stringify({ store: { database, masterKeyFile: 'master.key' } }));
    return file;
  };
  let config: string;
  const window = ['--since', SINCE, '--until', UNTIL];

  before(async () => {
    dir = makeTempDir('dke-cli-report-');
    await writeIncident(path.join(dir, 'dke.db'));
    config = configFor('dke.db');
  });
  after(() => removeDir(dir));

  it('writes markdown to standard output by default', () => {
    const run = dke('audit', 'report', '-c', config, ...window);
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stdout,
      /^# Incident report\n\n\*\*Integrity: VERIFIED: log verified up to size 130, root [0-9a-f]{64}, chain head [0-9a-f]{64}\*\*$/m,
    );
    assert.match(
      run.stdout,
      /^Totals: 38 records, 33 key releases, 2 refusals, 2 admin changes, 5 subjects\.$/m,
    );
    assert.match(run.stdout, /^\| bob-sub \| https:\/\/idp\.example\/ \| rate \| 31 releases/m);
  });

  it('writes json with filters, matching the library report', () => {
    const run = dke(
      'audit',
      'report',
      '-c',
      config,
      ...window,
      '--format',
      'json',
      '--subject',
      'bob-sub',
      '--key',
      'finance',
    );
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as IncidentReport;
    assert.equal(report.schema, 'opendke.incident-report');
    assert.deepEqual(report.filter, {
      since: SINCE,
      until: UNTIL,
      keyName: 'finance',
      objectId: null,
      subject: 'bob-sub',
      timezone: 'UTC',
    });
    assert.deepEqual(report.totals, {
      records: 31,
      releases: 31,
      refusals: 0,
      adminChanges: 0,
      subjects: 1,
      unverifiedRecords: 0,
    });
    assert.deepEqual(
      report.outliers.map((o) => o.kind),
      ['rate', 'new-address', 'unusual-hour'],
    );
    const object = JSON.parse(
      dke('audit', 'report', '-c', config, ...window, '--format', 'json', '--object', 'obj-1').stdout,
    ) as IncidentReport;
    assert.deepEqual(
      object.releases.map((g) => g.objectId),
      ['obj-1'],
    );
    const viaJsonFlag = dke('audit', 'report', '-c', config, ...window, '--json');
    assert.equal((JSON.parse(viaJsonFlag.stdout) as IncidentReport).totals.records, 38);
  });

  it('writes html to a new file with -o (mode 0600), and refuses to replace it without --force', () => {
    const out = path.join(dir, 'report.html');
    const run = dke(
      'audit',
      'report',
      '-c',
      config,
      ...window,
      '--format',
      'html',
      '-o',
      out,
      '--timezone',
      'Europe/Paris',
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, '');
    const html = readFileSync(out, 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /hours in Europe\/Paris/);
    assert.ok(!html.includes('<script'));
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const again = dke('audit', 'report', '-c', config, ...window, '--format', 'html', '-o', out);
    assert.equal(again.status, EXIT.IO);
    assert.match(again.stderr, /already exists/);
    assert.equal(dke('audit', 'report', '-c', config, ...window, '-o', out, '--force').status, 0);
    assert.match(readFileSync(out, 'utf8'), /^# Incident report/);
  });

  it('refuses bad options with a usage error', () => {
    for (const args of [
      ['--since', 'yesterday-ish'],
      ['--since', UNTIL, '--until', SINCE],
      ['--timezone', 'Mars/Olympus'],
      ['--format', 'pdf'],
      ['--subject', ''],
    ]) {
      const run = dke('audit', 'report', '-c', config, ...args);
      assert.equal(run.status, EXIT.USAGE, `${args.join(' ')}: ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('a tampered log: the report is written, headed FAILED, and the command exits 10', async () => {
    await writeIncident(path.join(dir, 'tampered.db'));
    const store = openSqliteStore(path.join(dir, 'tampered.db'));
    store
      .unsafeDatabase()
      .exec("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET user_name = 'nobody' WHERE seq = 100");
    await store.close();
    const out = path.join(dir, 'tampered.md');
    const run = dke('audit', 'report', '-c', configFor('tampered.db'), ...window, '-o', out);
    assert.equal(run.status, EXIT.AUDIT);
    assert.equal(EXIT.AUDIT, 10);
    assert.match(run.stderr, /chain is broken at record 100/);
    assert.ok(existsSync(out));
    assert.match(
      readFileSync(out, 'utf8'),
      /^\*\*Integrity: FAILED: log verification failed at record 100: the record does not match its hash \(a field was changed\); records 1-99 verify/m,
    );
  });
});
