/**
 * Reader memory is bounded by the format's limits (docs/format.md §3.1, §6): at the largest chunk size a
 * reader reserves a few chunks, not a few batches of four. Anyone with the holders' public keys can write a
 * valid object at chunk_log2 24, so this is what a hostile sender can make a reader allocate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decryptReusing } from '../../src/client/decrypt.js';
import { encryptToBuffer, cleartextHolders, pieces } from '../support/format-helpers.js';

const MiB = 2 ** 20;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Buffer memory in use once garbage is gone (Buffers are freed by finalizers after a collection). */
async function liveBufferBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().arrayBuffers;
}

void test('decrypting an object of 16 MiB chunks reserves at most six chunk buffers', async () => {
  const holders = cleartextHolders(2);
  const chunkSize = 2 ** 24;
  const object = await encryptToBuffer(Buffer.alloc(chunkSize + 1, 7), holders, { chunkLog2: 24 });
  const before = await liveBufferBytes();
  const iterator = decryptReusing(pieces(object), holders)[Symbol.asyncIterator]();
  const first = await iterator.next();
  const grown = (await liveBufferBytes()) - before;
  // One chunk in flight at this size: at most 2 input and 4 output buffers of one chunk (docs/format.md §6).
  assert.ok(grown <= 6 * (chunkSize + 16), `reader reserved ${Math.round(grown / MiB)} MiB`);
  assert.equal(first.done, false);
  assert.equal(first.value?.length, chunkSize, 'the first chunk, whole');
  await iterator.return?.(undefined);
});
