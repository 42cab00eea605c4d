/**
 * The atomic writers' temporary files. Node cannot link an unnamed (O_TMPFILE) file into place, so a
 * temporary has a name while it is written: it is 0600 (encrypt's too), carries the writer's process id,
 * is removed on SIGINT/SIGTERM/SIGHUP, and after a SIGKILL the next dke run writing into that folder
 * removes it. Nothing else in the folder is ever touched.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from '../support/paths.js';
import { ecKeys, exists, patternBytes, runCli, tempDir, writeKeyFile } from '../support/format-helpers.js';

const dir = await tempDir('dke-temporaries-');
const [a, b] = ecKeys('P-256', 2);
const keyA = await writeKeyFile(dir, 'a.key', a as never);
const keyB = await writeKeyFile(dir, 'b.key', b as never);
const plaintext = patternBytes(4_000_000, 11);
await fs.writeFile(path.join(dir, 'plain'), plaintext);
const sealedRun = await runCli(['encrypt', '-H', keyA, '-H', keyB, '-o', 'sealed', 'plain'], { cwd: dir });
assert.equal(sealedRun.code, 0, sealedRun.stderr);
const sealed = await fs.readFile(path.join(dir, 'sealed'));

/** The host part of a temporary's name: the sweep only judges process ids of this machine. */
const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

const running = new Set<ChildProcessWithoutNullStreams>();
after(() => running.forEach((child) => child.kill('SIGKILL'))); // a failed test must not hang the run

/** The CLI with stdin a pipe the test feeds at its own pace. */
function spawnCli(args: readonly string[]): ChildProcessWithoutNullStreams {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('DKE_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: dir,
    env: { ...env, CI: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => undefined);
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

const exited = (child: ChildProcessWithoutNullStreams): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });

async function temporariesIn(folder: string): Promise<string[]> {
  return (await fs.readdir(folder)).filter((name) => name.endsWith('.dke-tmp'));
}

/** Waits until the folder holds exactly one non-empty temporary: the writer is mid-way. */
async function oneFilledTemporary(folder: string): Promise<string> {
  for (let attempt = 0; attempt < 2000; attempt++) {
    const [name, ...more] = await temporariesIn(folder);
    assert.equal(more.length, 0);
    if (name !== undefined && (await fs.stat(path.join(folder, name))).size > 0) return name;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no temporary with content appeared');
}

/** A process id that is not running (a child that has exited and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

test('a decrypt killed with SIGKILL leaves plaintext under a temporary name until the next dke run there', async () => {
  const out = path.join(dir, 'killed');
  await fs.mkdir(out);
  const child = spawnCli(['decrypt', '-i', keyA, '-i', keyB, '-o', path.join(out, 'plain.out')]);
  child.stdin.write(sealed.subarray(0, 1_500_000)); // the rest never comes: decrypt waits mid-stream
  const temporary = await oneFilledTemporary(out);
  child.kill('SIGKILL');
  await exited(child);
  assert.equal(child.signalCode, 'SIGKILL');

  // What a crash leaves: a plaintext prefix under the temporary name, nothing under the output name.
  const prefix = await fs.readFile(path.join(out, temporary));
  assert.ok(prefix.length > 0 && prefix.equals(plaintext.subarray(0, prefix.length)), 'a plaintext prefix');
  assert.equal(await exists(path.join(out, 'plain.out')), false);

  // Lookalikes the sweep must leave alone, and one more stale temporary of ours that it must remove.
  const dead = await deadPid();
  const name = (base: string, pid: number, host = HOST_TAG): string =>
    `.${base}.${host}-${String(pid)}.0123456789ab.dke-tmp`;
  const keep: string[] = [];
  const keepFile = async (file: string, text = 'keep'): Promise<void> => {
    await fs.writeFile(path.join(out, file), text, { mode: 0o600 });
    keep.push(file);
  };
  await keepFile(name('live', process.pid)); // its writer (this test) is running
  await keepFile(name('other-host', dead, 'fedcba98')); // another machine's: its pids mean nothing here
  await keepFile('.old.0123456789ab.dke-tmp'); // no process id: not provably ours
  await keepFile('notes.dke-tmp');
  await keepFile('unrelated.txt');
  await keepFile('symlink-target');
  await fs.symlink('symlink-target', path.join(out, name('symlink', dead)));
  keep.push(name('symlink', dead));
  await fs.mkdir(path.join(out, name('directory', dead)));
  keep.push(name('directory', dead));
  if (process.getuid?.() === 0) {
    await keepFile(name('foreign-owner', dead)); // someone else's file: never ours to delete
    await fs.chown(path.join(out, name('foreign-owner', dead)), 65534, 65534);
  }
  await fs.writeFile(path.join(out, name('stale', dead)), 'stale plaintext', { mode: 0o600 });

  // The next dke run that writes into that folder (here: keygen) removes the stale temporaries.
  const next = await runCli(['keygen', '-q', '-t', 'P-256', '-o', path.join(out, 'new.key')], { cwd: dir });
  assert.equal(next.code, 0, next.stderr);
  assert.equal(await exists(path.join(out, temporary)), false, 'the killed decrypt left nothing behind');
  assert.equal(await exists(path.join(out, name('stale', dead))), false);
  assert.match(
    temporary,
    new RegExp(`^\\.plain\\.out\\.${HOST_TAG}-${String(child.pid)}\\.[0-9a-f]{12}\\.dke-tmp$`),
  );
  assert.deepEqual((await fs.readdir(out)).sort(), [...keep, 'new.key'].sort());
  for (const file of keep) {
    const stats = await fs.lstat(path.join(out, file));
    if (stats.isFile()) assert.equal(await fs.readFile(path.join(out, file), 'utf8'), 'keep');
  }
  assert.equal(await fs.readlink(path.join(out, name('symlink', dead))), 'symlink-target');
});

test('encrypt and decrypt sweep their output folder too', async () => {
  const out = path.join(dir, 'swept');
  await fs.mkdir(out);
  const dead = await deadPid();
  const stale = (base: string): string => `.${base}.${HOST_TAG}-${String(dead)}.0123456789ab.dke-tmp`;
  await fs.writeFile(path.join(out, stale('a')), 'x', { mode: 0o600 });
  const encrypted = await runCli(['encrypt', '-H', keyA, '-H', keyB, '-o', path.join(out, 'e'), 'plain'], {
    cwd: dir,
  });
  assert.equal(encrypted.code, 0, encrypted.stderr);
  assert.deepEqual(await fs.readdir(out), ['e']);
  await fs.writeFile(path.join(out, stale('b')), 'x', { mode: 0o600 });
  const decrypted = await runCli(['decrypt', '-i', keyA, '-i', keyB, '-o', path.join(out, 'd'), 'sealed'], {
    cwd: dir,
  });
  assert.equal(decrypted.code, 0, decrypted.stderr);
  assert.deepEqual((await fs.readdir(out)).sort(), ['d', 'e']);
});

test('encrypt writes its temporary 0600 and gives the output its mode only when complete', async () => {
  const out = path.join(dir, 'modes');
  await fs.mkdir(out);
  const child = spawnCli(['encrypt', '-H', keyA, '-H', keyB, '-o', path.join(out, 'sealed')]);
  child.stdin.write(plaintext.subarray(0, 1_500_000));
  const temporary = await oneFilledTemporary(out);
  assert.equal((await fs.stat(path.join(out, temporary))).mode & 0o777, 0o600);
  child.stdin.end(plaintext.subarray(1_500_000));
  assert.equal(await exited(child), 0);
  assert.equal((await fs.stat(path.join(out, 'sealed'))).mode & 0o777, 0o644 & ~process.umask());
  assert.deepEqual(await temporariesIn(out), []);
});

test('SIGTERM mid-write removes the temporary before exiting', async () => {
  const out = path.join(dir, 'terminated');
  await fs.mkdir(out);
  const child = spawnCli(['decrypt', '-i', keyA, '-i', keyB, '-o', path.join(out, 'plain.out')]);
  child.stdin.write(sealed.subarray(0, 1_500_000));
  await oneFilledTemporary(out);
  child.kill('SIGTERM');
  assert.equal(await exited(child), 128 + 15);
  assert.deepEqual(await fs.readdir(out), []);
});

test('an output name near the 255-byte limit still gets a temporary (its name is shortened)', async () => {
  const out = path.join(dir, 'long');
  await fs.mkdir(out);
  const name = `${'é'.repeat(100)}${'x'.repeat(50)}`; // 250 bytes in UTF-8
  const result = await runCli(['encrypt', '-H', keyA, '-H', keyB, '-o', path.join(out, name), 'plain'], {
    cwd: dir,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await fs.readdir(out), [name]);
});
