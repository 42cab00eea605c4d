/**
 * The process-wide worker pool that seals and opens chunks (src/client/chunk-workers.ts): objects with
 * different keys share it at the same time, and idle workers never keep a process alive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  decryptToBuffer,
  encryptToBuffer,
  patternBytes,
  cleartextHolders,
  C,
} from '../support/format-helpers.js';

void test('eight objects with their own keys, sealed and opened at the same time, all round-trip', async () => {
  // Jobs of different objects interleave on the same threads, each with its own payload key.
  const plaintexts = Array.from({ length: 8 }, (_, i) => patternBytes(3 * C + 1000 * i, i + 1));
  const holders = plaintexts.map(() => cleartextHolders(2));
  const objects = await Promise.all(
    plaintexts.map((p, i) => encryptToBuffer(p, holders[i] ?? [], {}, [65_537])),
  );
  const opened = await Promise.all(objects.map((o, i) => decryptToBuffer(o, holders[i] ?? [], {}, [C + 17])));
  opened.forEach((back, i) => assert.ok(back.equals(plaintexts[i] as Buffer), `object ${i}`));
});

void test('a process that encrypted a multi-chunk object exits at once: idle workers do not hold it, and its own flags do not reach them', async () => {
  const encryptModule = fileURLToPath(new URL('../../src/client/encrypt.js', import.meta.url));
  const helpers = fileURLToPath(new URL('../support/format-helpers.js', import.meta.url));
  const script = `
    const { encryptIterable } = await import(${JSON.stringify(encryptModule)});
    const { cleartextHolders } = await import(${JSON.stringify(helpers)});
    let bytes = 0;
    async function* source() { yield Buffer.alloc(5 * 2 ** 20 + 3, 1); }
    for await (const part of encryptIterable(source(), cleartextHolders(2))) bytes += part.length;
    console.log(bytes);
  `;
  const started = performance.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const seconds = (performance.now() - started) / 1000;
  assert.equal(code, 0, stderr);
  assert.ok(Number(stdout) > 5 * 2 ** 20, stdout);
  // --input-type is refused by a worker that inherits it. The pool's idle timeout is 5 s: a process held by its workers would take at least that long.
  assert.ok(seconds < 4.5, `the process took ${seconds.toFixed(1)} s to exit`);
});
