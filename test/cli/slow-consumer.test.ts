/**
 * Streams reuse their buffers (flat memory). A consumer that reads slowly keeps a write in flight for
 * long; the bytes on the wire must still be exactly the ones produced, to the last buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from '../support/paths.js';
import { ecKeys, patternBytes, runCli, writeKeyFile } from '../support/format-helpers.js';

/** Runs the CLI with stdout into a shell pipe whose reader starts late, so the CLI's writes stay pending. */
async function runWithSlowReader(args: readonly string[], cwd: string): Promise<Buffer> {
  const child = spawn('sh', ['-c', '"$0" "$@" | (sleep 0.5; cat)', process.execPath, cliPath, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const parts: Buffer[] = [];
  for await (const part of child.stdout) parts.push(part as Buffer);
  assert.equal(await exited, 0);
  return Buffer.concat(parts);
}

test('encrypt and decrypt to a slow pipe write every byte intact', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-slow-'));
  try {
    const [a, b] = ecKeys('P-256', 2);
    const keyA = await writeKeyFile(dir, 'a.key', a as never);
    const keyB = await writeKeyFile(dir, 'b.key', b as never);
    // Several batches and a last batch of two chunks, the last one partial.
    const plaintext = patternBytes(3_000_000, 3);
    await fs.writeFile(path.join(dir, 'plain'), plaintext);
    const sealed = await runWithSlowReader(['encrypt', '-H', keyA, '-H', keyB, 'plain'], dir);
    await fs.writeFile(path.join(dir, 'sealed'), sealed);
    const fromFile = await runCli(['decrypt', '-i', keyA, '-i', keyB, 'sealed'], { cwd: dir });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.ok(fromFile.stdout.equals(plaintext), 'encrypt output written to a slow pipe decrypts');
    const opened = await runWithSlowReader(['decrypt', '-i', keyA, '-i', keyB, 'sealed'], dir);
    assert.ok(opened.equals(plaintext), 'decrypt output to a slow pipe is the plaintext');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a reader that closes early gets a clean I/O error (exit 3), not an internal error', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-epipe-'));
  try {
    const [a, b] = ecKeys('P-256', 2);
    const keyA = await writeKeyFile(dir, 'a.key', a as never);
    const keyB = await writeKeyFile(dir, 'b.key', b as never);
    await fs.writeFile(path.join(dir, 'plain'), patternBytes(4_000_000, 5));
    const sealed = await runCli(['encrypt', '-H', keyA, '-H', keyB, '-o', 'sealed', 'plain'], { cwd: dir });
    assert.equal(sealed.code, 0, sealed.stderr);
    const child = spawn(
      'bash',
      [
        '-c',
        '"$0" "$@" 2>err | head -c 100 >/dev/null; echo "${PIPESTATUS[0]}"',
        process.execPath,
        cliPath,
        'decrypt',
        '-i',
        keyA,
        '-i',
        keyB,
        'sealed',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let status = '';
    for await (const part of child.stdout) status += String(part);
    assert.equal(status.trim(), '3');
    const stderr = await fs.readFile(path.join(dir, 'err'), 'utf8');
    assert.match(stderr, /^dke: error: cannot write standard output: the reading end was closed\n$/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
