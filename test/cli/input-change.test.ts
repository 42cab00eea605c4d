/**
 * An input file that changes while dke reads it (grows, shrinks, or is rewritten in place) must not
 * become an output of mixed content: ERR_INPUT_CHANGED (exit 3) and no output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cliPath } from '../support/paths.js';
import { EXIT } from '../../src/errors/index.js';
import { openInput, writeOutput } from '../../src/cli/io.js';
import { encryptReusing } from '../../src/client/encrypt.js';
import {
  assertCliError,
  ecKeys,
  isDkeError,
  localHolders,
  patternBytes,
  runCli,
  tempDir,
  writeKeyFile,
} from '../support/format-helpers.js';

const dir = await tempDir('dke-input-change-');
const [a, b] = ecKeys('P-256', 2);
const keyA = await writeKeyFile(dir, 'a.key', a as never);
const keyB = await writeKeyFile(dir, 'b.key', b as never);
/** Far larger than what the CLI reads ahead of a stalled standard output (a few MiB at most). */
const SIZE = 24_000_000;

/**
 * Runs `dke encrypt FILE` to a stdout pipe, stops reading the pipe once 1 MB arrived (the CLI then
 * blocks with most of the file unread), changes the file, then reads on to the end.
 */
async function encryptWhileChanging(
  file: string,
  change: () => Promise<void>,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('DKE_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  const child = spawn(process.execPath, [cliPath, 'encrypt', '-H', keyA, '-H', keyB, file], {
    cwd: dir,
    env: { ...env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const parts: Buffer[] = [];
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  // Past the header (written before the file is even opened) and well into the payload.
  await new Promise<void>((resolve) => {
    let received = 0;
    const onData = (part: Buffer): void => {
      parts.push(part);
      received += part.length;
      if (received < 1_000_000) return;
      child.stdout.off('data', onData);
      child.stdout.pause();
      resolve();
    };
    child.stdout.on('data', onData);
  });
  await change();
  for await (const part of child.stdout) parts.push(part as Buffer);
  return { code: await closed, stdout: Buffer.concat(parts), stderr };
}

async function assertRefused(
  outcome: { code: number | null; stdout: Buffer; stderr: string },
  file: string,
): Promise<void> {
  assertCliError({ ...outcome }, EXIT.IO, [`${file} changed while it was read`]);
  // What did reach stdout is no OpenDKE object: its final chunk was never sealed.
  const opened = await runCli(['decrypt', '-i', keyA, '-i', keyB], { cwd: dir, input: outcome.stdout });
  assert.notEqual(opened.code, 0);
  assert.equal(opened.stdout.length < SIZE, true);
}

test('an input that grows while encrypt reads it is refused', async () => {
  const file = path.join(dir, 'grows');
  await fs.writeFile(file, patternBytes(SIZE, 1));
  const outcome = await encryptWhileChanging(file, () => fs.appendFile(file, 'appended'));
  await assertRefused(outcome, file);
});

test('an input that shrinks while encrypt reads it is refused', async () => {
  const file = path.join(dir, 'shrinks');
  await fs.writeFile(file, patternBytes(SIZE, 2));
  const outcome = await encryptWhileChanging(file, () => fs.truncate(file, SIZE / 2));
  await assertRefused(outcome, file);
});

test('an input rewritten in place (same size) while encrypt reads it is refused', async () => {
  const file = path.join(dir, 'rewritten');
  await fs.writeFile(file, patternBytes(SIZE, 3));
  const outcome = await encryptWhileChanging(file, async () => {
    const handle = await fs.open(file, 'r+');
    await handle.write(Buffer.from('changed'), 0, 7, SIZE - 100);
    await handle.close();
  });
  await assertRefused(outcome, file);
});

test('to an output file: the error, and neither the file nor a temporary is left', async () => {
  const file = path.join(dir, 'grows-to-file');
  const out = path.join(dir, 'out');
  await fs.mkdir(out);
  await fs.writeFile(file, patternBytes(2_000_000, 4));
  const input = await openInput(file);
  // Grows the file after the first piece was handed on (deterministic: reads are 1 MiB).
  async function* growingAfterFirstPiece(): AsyncGenerator<Uint8Array> {
    let first = true;
    for await (const piece of input.stream) {
      yield piece;
      if (first) await fs.appendFile(file, 'appended');
      first = false;
    }
  }
  await assert.rejects(
    writeOutput(encryptReusing(growingAfterFirstPiece(), await localHolders(2)), path.join(out, 'sealed'), {
      force: false,
      mode: 0o644,
    }),
    (error: unknown) => isDkeError(error) && error.code === ('ERR_INPUT_CHANGED' as string),
  );
  assert.deepEqual(await fs.readdir(out), []);
});

test('an unchanged input still encrypts (the check has no false alarm)', async () => {
  const file = path.join(dir, 'steady');
  await fs.writeFile(file, patternBytes(SIZE, 5));
  const outcome = await encryptWhileChanging(file, () => Promise.resolve());
  assert.equal(outcome.code, 0, outcome.stderr);
  const opened = await runCli(['decrypt', '-i', keyA, '-i', keyB], { cwd: dir, input: outcome.stdout });
  assert.equal(opened.code, 0, opened.stderr);
  assert.ok(opened.stdout.equals(patternBytes(SIZE, 5)));
});
