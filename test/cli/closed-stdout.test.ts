/**
 * Every command treats a standard output it cannot write (the reader went away: `dke audit list | head`,
 * or a full device) the way encrypt and decrypt do: `dke: error: cannot write standard output: ...`,
 * exit 3, never a stack trace.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { cliPath } from '../support/paths.js';
import { EXIT } from '../../src/errors/index.js';
import { ecKeys, runCli, tempDir, writeKeyFile } from '../support/format-helpers.js';

const CLOSED_MESSAGE = 'dke: error: cannot write standard output: the reading end was closed\n';

function cliEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('DKE_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  return { ...env, CI: '1', NO_COLOR: '1' };
}

interface Outcome {
  readonly code: number | null;
  readonly stderr: string;
  readonly firstLine?: string;
}

/**
 * Runs the CLI with stdout a pipe whose reading end the test closes: at once (before the CLI wrote
 * anything, so every write fails), or after the first line.
 */
function runWithClosedStdout(
  args: readonly string[],
  cwd: string,
  after: 'start' | 'first line',
): Promise<Outcome> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let firstLine: string | undefined;
  if (after === 'start') child.stdout.destroy();
  else {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      firstLine = line;
      lines.close();
      child.stdout.destroy();
    });
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, ...(firstLine === undefined ? {} : { firstLine }) }));
  });
}

const dir = await tempDir('dke-closed-stdout-');
const auditStore = ['--db', path.join(dir, 'store.db')];
const store = [...auditStore, '--master-key-file', path.join(dir, 'master.key')];

// A store whose audit log is larger than a pipe holds, so `audit list | head -n 1` closes mid-stream.
for (const name of ['alpha', 'beta']) {
  const created = await runCli(['key', 'create', name, ...store], { cwd: dir });
  assert.equal(created.code, 0, created.stderr);
}
{
  // Many audited changes in one process (a `dke key revoke` per record would take minutes).
  const { loadMasterKey, openKeyService } = await import('../../src/keystore/index.js');
  const { runAudited } = await import('../../src/service/audited-action.js');
  const master = loadMasterKey({ file: path.join(dir, 'master.key') });
  const service = await openKeyService({ dbPath: path.join(dir, 'store.db'), masterKey: master.masterKey });
  try {
    for (let i = 0; i < 700; i++) {
      const objectId = randomBytes(16).toString('base64url');
      await runAudited(
        service.audit,
        { action: 'cli.object.revoke', issuer: 'local-cli', subject: 'test', keyName: 'alpha', objectId },
        () => service.keys.revokeObject('alpha', objectId),
      );
    }
  } finally {
    await service.close();
  }
}

const [a, b] = ecKeys('P-256', 2);
const keyA = await writeKeyFile(dir, 'a.key', a as never);
const keyB = await writeKeyFile(dir, 'b.key', b as never);
await fs.writeFile(path.join(dir, 'plain'), 'hello');
const sealed = await runCli(['encrypt', '-H', keyA, '-H', keyB, '-o', 'sealed', 'plain'], { cwd: dir });
assert.equal(sealed.code, 0, sealed.stderr);

void describe('a closed standard output', { concurrency: 4 }, () => {
  const commands: Record<string, readonly string[]> = {
    'audit list': ['audit', 'list', ...auditStore],
    'audit list --json': ['audit', 'list', '--json', ...auditStore],
    'audit verify --json': ['audit', 'verify', '--json', ...auditStore],
    'key list': ['key', 'list', ...store],
    'key show': ['key', 'show', 'alpha', ...store],
    inspect: ['inspect', 'sealed'],
    'inspect --json': ['inspect', '--json', 'sealed'],
    help: ['--help'],
    'encrypt --help': ['encrypt', '--help'],
    version: ['--version'],
    decrypt: ['decrypt', '-i', keyA, '-i', keyB, 'sealed'],
  };
  for (const [name, args] of Object.entries(commands)) {
    void test(`${name}: exit 3 and one clean error line`, async () => {
      const outcome = await runWithClosedStdout(args, dir, 'start');
      assert.equal(outcome.stderr, CLOSED_MESSAGE);
      assert.equal(outcome.code, EXIT.IO);
    });
  }

  void test('keygen writes the key file, then reports the recipient it could not print', async () => {
    const outcome = await runWithClosedStdout(
      ['keygen', '-q', '-o', 'closed.key', '-t', 'P-256'],
      dir,
      'start',
    );
    assert.equal(outcome.stderr, CLOSED_MESSAGE);
    assert.equal(outcome.code, EXIT.IO);
    const json = JSON.parse(await fs.readFile(path.join(dir, 'closed.key'), 'utf8')) as { recipient: string };
    assert.match(json.recipient, /^dkepub1:/, 'the recipient stays readable in the key file');
  });

  void test('audit list | head -n 1: the first line arrives, then exit 3 without a stack trace', async () => {
    const outcome = await runWithClosedStdout(
      ['audit', 'list', '--limit', '10000', ...auditStore],
      dir,
      'first line',
    );
    assert.match(outcome.firstLine ?? '', /^\d+\t/, outcome.stderr);
    assert.equal(outcome.stderr, CLOSED_MESSAGE);
    assert.equal(outcome.code, EXIT.IO);
  });

  void test('a full device on standard output: exit 3, no space left', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [cliPath, 'key', 'list', ...store], {
        cwd: dir,
        env: cliEnv(),
        stdio: ['ignore', full, 'pipe'],
      });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(stderr, 'dke: error: cannot write standard output: no space left on device\n');
      assert.equal(code, EXIT.IO);
    } finally {
      closeSync(full);
    }
  });
});
