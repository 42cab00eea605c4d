/**
 * `dke key`, `dke audit` and `dke serve` as a user runs them: the compiled CLI in a child process, on one
 * store shared by the offline commands and the server.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { cliPath, sharedDir } from '../support/paths.js';
import { authConfigFor, issuerConfigFor, startTestIssuer } from '../support/issuer.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { EXIT } from '../../src/errors/index.js';

const PEM = path.join(sharedDir, 'vectors', 'ms-dke', 'private_key.pkcs1.pem');

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('dke key / audit / serve', () => {
  let dir: string;
  let configFile: string;
  let issuer: DevIssuer;
  const dke = (...args: string[]): Run => {
    const result = spawnSync(process.execPath, [cliPath, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DKE_MASTER_KEY: '' },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const store = (): string[] => ['--config', configFile];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dke-cli-'));
    issuer = await startTestIssuer();
    configFile = path.join(dir, 'dke.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        server: { port: 0 },
        store: { database: 'dke.db', masterKeyFile: 'master.key' },
        auth: authConfigFor([issuerConfigFor(issuer)]),
        logging: { level: 'warn' },
      }),
    );
  });
  after(async () => {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('key import / policy / list, then audit verify and list', () => {
    const imported = dke(
      'key',
      'import',
      'label',
      '--pem',
      PEM,
      '--protocol',
      'ms-dke',
      '--cache-seconds',
      '60',
      ...store(),
    );
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /^name: +label$/m);
    assert.equal(dke('key', 'policy', 'label', '--users', 'Alice@example.test', ...store()).status, 0);
    const listed = dke('key', 'list', '--json', ...store());
    const [key] = JSON.parse(listed.stdout) as {
      name: string;
      protocol: string;
      policy: { users: string[] };
    }[];
    assert.equal(key?.name, 'label');
    assert.equal(key?.protocol, 'ms-dke');
    assert.deepEqual(key?.policy.users, ['alice@example.test']);

    const verified = dke('audit', 'verify', ...store());
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stderr, /audit log intact: 4 records/);
    const records = dke('audit', 'list', '--key', 'label', '--json', ...store())
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { action: string; result: string; issuer: string });
    assert.deepEqual(
      records.map((r) => `${r.action}:${r.result}`),
      ['cli.policy.set:ok', 'cli.policy.set:allowed', 'cli.key.import:ok', 'cli.key.import:allowed'],
    );
    assert.equal(records[0]?.issuer, 'local-cli');
  });

  it('refuses reserved names and an unconfirmed destroy (exit 2)', () => {
    const reserved = dke('key', 'create', 'metrics', ...store());
    assert.equal(reserved.status, EXIT.USAGE);
    assert.match(reserved.stderr, /dke: error: key name 'metrics' is reserved/);
    const destroy = dke('key', 'destroy', 'label', ...store());
    assert.equal(destroy.status, EXIT.USAGE);
    assert.match(destroy.stderr, /without --yes/);
  });

  it('dke serve uses the same store and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [cliPath, 'serve', '--config', configFile], {
      env: { ...process.env, DKE_MASTER_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(stderr);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
    });
    try {
      const published = (await (await fetch(`${url}/label`)).json()) as {
        key: { n: string };
        cache: { exp: string };
      };
      const expected = JSON.parse(
        readFileSync(path.join(sharedDir, 'vectors', 'ms-dke', 'key.json'), 'utf8'),
      ) as {
        key: { n: string };
      };
      assert.equal(published.key.n, expected.key.n);
      assert.match(published.cache.exp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
  });

  it('audit verify exits 10 naming the first broken record', () => {
    const db = new Database(path.join(dir, 'dke.db'));
    try {
      // What a tamperer does: drop the append-only guard, rewrite history.
      db.exec("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET user_name = 'nobody' WHERE seq = 2");
    } finally {
      db.close();
    }
    const verified = dke('audit', 'verify', ...store());
    assert.equal(verified.status, EXIT.AUDIT);
    assert.match(verified.stderr, /dke: error: audit log chain is broken at record 2: /);
  });

  it('documents every option in --help', () => {
    const help = dke('key', 'import', '--help').stdout;
    for (const option of [
      '--pem',
      '--protocol',
      '--spec',
      '--cache-seconds',
      '--config',
      '--db',
      '--master-key-file',
    ]) {
      assert.ok(help.includes(option), `${option} missing from help`);
    }
    const auditHelp = dke('audit', 'list', '--help').stdout;
    for (const option of ['--key', '--object', '--subject', '--since', '--limit'])
      assert.ok(auditHelp.includes(option));
    assert.match(dke('serve', '--help').stdout, /--config <file>/);
  });
});
