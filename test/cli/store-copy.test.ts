/**
 * `dke store copy` end to end: the real CLI in a child process on real stores (SQLite files, and a real
 * PostgreSQL database when DKE_TEST_POSTGRES_URL is set).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StoreAuditLog } from '../../src/audit/index.js';
import { EXIT } from '../../src/errors/index.js';
import { MasterKey } from '../../src/keystore/index.js';
import { openSqliteStore, openStore } from '../../src/store/index.js';
import { assertCliError, runCli, tempDir, type CliResult } from '../support/format-helpers.js';
import { createTestDatabase, whenPostgres, withDatabase } from '../support/postgres.js';
import { appendRecords, fillStore, type FilledStore } from '../store/copy-fixture.js';

const dir = await tempDir('dke-store-copy-');
let sequence = 0;
const fresh = (name: string): string => path.join(dir, `${++sequence}-${name}`);

/** A filled SQLite source and its master key file (base64, as the key service reads it). */
async function source(records: number): Promise<{ file: string; masterKeyFile: string; facts: FilledStore }> {
  const bytes = crypto.randomBytes(32);
  const masterKeyFile = fresh('master.key');
  fs.writeFileSync(masterKeyFile, `${bytes.toString('base64')}\n`, { mode: 0o600 });
  const file = fresh('source.db');
  const store = openSqliteStore(file);
  try {
    return { file, masterKeyFile, facts: await fillStore(store, MasterKey.fromBytes(bytes), records) };
  } finally {
    await store.close();
  }
}

async function sourceRoot(file: string): Promise<string> {
  const store = openSqliteStore(file, { readonly: true });
  try {
    return (await new StoreAuditLog(store).treeHead()).rootHash.toString('hex');
  } finally {
    await store.close();
  }
}

const stdoutOf = (result: CliResult): string => result.stdout.toString('utf8');

/** Fails with everything the command printed. */
function assertOk(result: CliResult): void {
  assert.equal(
    result.code,
    0,
    `exit ${String(result.code)}\nstdout: ${stdoutOf(result)}\nstderr: ${result.stderr}`,
  );
}

void describe('dke store copy', () => {
  void test('--help documents the flags, the empty target, the master key and the exit codes', async () => {
    const result = await runCli(['store', 'copy', '--help']);
    assertOk(result);
    const help = stdoutOf(result);
    for (const text of [
      '--from <file|url>',
      '--to <file|url>',
      '-c, --config <file>',
      '--json',
      'must be empty',
    ]) {
      assert.ok(help.includes(text), `help mentions ${text}`);
    }
    assert.match(help, /master key is not needed/);
    assert.match(help, /do not use the target/);
    const usage = await runCli(['store', 'copy', '--to', fresh('x.db')]);
    assert.equal(usage.code, EXIT.USAGE);
    assert.match(usage.stderr, /^dke: error: required option '--from <file\|url>' not specified/);
  });

  void test('SQLite to SQLite: summary on stdout, the copy verifies, and the key service opens it', async () => {
    const { file, masterKeyFile, facts } = await source(2000);
    const target = fresh('copy.db');
    const result = await runCli(['store', 'copy', '--from', file, '--to', target]);
    assertOk(result);
    assert.equal(result.stderr, '', 'no progress lines for a small log');
    const out = stdoutOf(result);
    assert.match(out, new RegExp(`^from: +${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(out, /^keys: +5 \(7 versions, 4 revoked objects\)$/m);
    assert.match(
      out,
      new RegExp(`^audit records: +${facts.records} \\(last record ${facts.records}:[0-9a-f]{64}\\)$`, 'm'),
    );
    assert.match(out, new RegExp(`^root hash: +${await sourceRoot(file)}$`, 'm'));
    assert.match(out, /^checkpoints: +3 \(6 witness cosignatures\)$/m);
    assert.match(out, /^verified: /m);

    // The copy is a working store: the audit log verifies, and the same master key opens its keys.
    const verify = await runCli(['audit', 'verify', '--db', target]);
    assertOk(verify);
    assert.match(verify.stderr, new RegExp(`audit log intact: ${facts.records} records`));
    const list = await runCli(['key', 'list', '--json', '--db', target, '--master-key-file', masterKeyFile]);
    assertOk(list);
    const keys = JSON.parse(stdoutOf(list)) as { name: string; state: string }[];
    assert.deepEqual(
      keys.map((k) => `${k.name}:${k.state}`),
      ['alpha:enabled', 'bravo:enabled', 'charlie:enabled', 'delta:disabled', 'echo:destroyed'],
    );
    const wrongKey = fresh('other.key');
    fs.writeFileSync(wrongKey, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    assertCliError(
      await runCli(['key', 'list', '--db', target, '--master-key-file', wrongKey]),
      EXIT.CONFIG,
      ['master key'],
    );

    // Once more into the same target: it is not empty now.
    const again = await runCli(['store', 'copy', '--from', file, '--to', target]);
    assertCliError(again, EXIT.USAGE, ['the target key store is not empty', 'never merges']);
    assert.equal(stdoutOf(again), '');
  });

  void test('a large log reports progress on stderr; --json prints the summary as one object', async () => {
    const file = fresh('large.db');
    const writer = openSqliteStore(file);
    await appendRecords(writer, 30_000);
    await writer.close();
    const result = await runCli(['store', 'copy', '--from', file, '--to', fresh('copy.db'), '--json']);
    assertOk(result);
    const lines = result.stderr.trim().split('\n');
    for (const phase of ['copied', 'verified']) {
      const own = lines.filter((line) => line.startsWith(`dke: ${phase} `));
      assert.ok(own.length >= 10, `a ${phase} line per tenth: ${result.stderr}`);
      assert.equal(own.at(-1), `dke: ${phase} 30000/30000 audit records (100%)`);
    }
    const summary = JSON.parse(stdoutOf(result)) as Record<string, unknown>;
    assert.equal(summary.auditRecords, 30_000);
    assert.equal(summary.verified, true);
    assert.equal(summary.rootHash, await sourceRoot(file));
  });

  void test('a source with a changed record fails with exit 10 and says the target is not to be used', async () => {
    const { file } = await source(1500);
    const raw = openSqliteStore(file);
    raw.unsafeDatabase().exec('DROP TRIGGER audit_log_no_update');
    // A refusal turned into a release, as someone covering their tracks would.
    const changed = raw
      .unsafeDatabase()
      .prepare("UPDATE audit_log SET result = 'allowed', reason = NULL WHERE seq = 1300")
      .run();
    assert.equal(changed.changes, 1);
    await raw.close();
    const result = await runCli(['store', 'copy', '--from', file, '--to', fresh('copy.db')]);
    assertCliError(result, EXIT.AUDIT, ["the source's audit log is broken at record 1300", 'do not use it']);
    assert.equal(stdoutOf(result), '', 'no summary: nothing is reported as copied');
  });

  void test('a source that does not exist is refused, creating nothing; --from and --to must differ', async () => {
    const missing = fresh('missing.db');
    const target = fresh('copy.db');
    const result = await runCli(['store', 'copy', '--from', missing, '--to', target]);
    assertCliError(result, EXIT.IO, [`the source store ${missing} does not exist`]);
    assert.equal(fs.existsSync(missing), false);
    assert.equal(fs.existsSync(target), false, 'the target is not created either');
    const { file } = await source(100);
    assertCliError(await runCli(['store', 'copy', '--from', file, '--to', file]), EXIT.USAGE, [
      'the same store',
    ]);
  });
});

whenPostgres('dke store copy into PostgreSQL', (adminUrl) => {
  void test('SQLite to PostgreSQL with the password from the config file; the URL is printed without it', async () => {
    const db = await createTestDatabase(adminUrl);
    try {
      const { file, masterKeyFile, facts } = await source(1200);
      const password = decodeURIComponent(new URL(adminUrl).password);
      const passwordFile = fresh('pg-password');
      fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
      const config = fresh('dke.yaml');
      fs.writeFileSync(
        config,
        `store:\n  masterKeyFile: ${masterKeyFile}\n  postgres:\n    passwordFile: ${passwordFile}\n`,
      );
      const url = withDatabase(adminUrl, db.name, true);
      assert.ok(!url.includes(password));

      // Without the config, no password: the server refuses the login, nothing is copied.
      const refused = await runCli(['store', 'copy', '--from', file, '--to', url]);
      assertCliError(refused, EXIT.IO);

      const result = await runCli(['store', 'copy', '--from', file, '--to', url, '-c', config]);
      assertOk(result);
      const out = stdoutOf(result);
      assert.ok(
        !out.includes(password) && !result.stderr.includes(password),
        'the password is never printed',
      );
      assert.match(out, new RegExp(`^to: +postgres://postgres@127\\.0\\.0\\.1:\\d+/${db.name}$`, 'm'));
      assert.match(out, new RegExp(`^audit records: +${facts.records} `, 'm'));
      assert.match(out, new RegExp(`^root hash: +${await sourceRoot(file)}$`, 'm'));

      // The key service's own commands run on the copy with the same config and master key.
      const verify = await runCli(['audit', 'verify', '--db', url, '-c', config]);
      assertOk(verify);
      assert.match(verify.stderr, new RegExp(`audit log intact: ${facts.records} records`));
      const list = await runCli(['key', 'list', '--json', '--db', url, '-c', config]);
      assertOk(list);
      const keys = JSON.parse(stdoutOf(list)) as { name: string; state: string }[];
      assert.deepEqual(
        keys.map((k) => `${k.name}:${k.state}`),
        ['alpha:enabled', 'bravo:enabled', 'charlie:enabled', 'delta:disabled', 'echo:destroyed'],
      );

      const target = await openStore(db.url);
      try {
        assert.equal((await target.listKeys()).length, 5);
        assert.equal((await target.auditTail())?.seq, facts.records);
      } finally {
        await target.close();
      }
      const again = await runCli(['store', 'copy', '--from', file, '--to', url, '-c', config]);
      assertCliError(again, EXIT.USAGE, ['the target key store is not empty']);
    } finally {
      await db.drop();
    }
  });
});
