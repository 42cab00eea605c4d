/**
 * readHeader(): takes exactly the header off the front of a stream, however the stream is cut, and hands
 * back the bytes it read past it; empty and truncated inputs are ERR_FORMAT_MALFORMED; a stream that arrives
 * one byte at a time costs linear, not quadratic, time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readHeader } from '../../src/client/read-header.js';
import { serializeHeader, type Header } from '../../src/format/header.js';
import {
  assertDkeError,
  collect,
  cutAt,
  encryptToBuffer,
  localHolders,
  pieces,
  splitObject,
} from '../support/format-helpers.js';

async function readAll(source: AsyncIterable<Uint8Array>): Promise<{ header: Header; rest: Buffer }> {
  const { header, rest } = await readHeader(source);
  return { header, rest: Buffer.concat([rest.buffered, await collect(rest.stream)]) };
}

void test('the header comes off the front and the rest of the stream is handed back intact', async () => {
  const object = await encryptToBuffer(Buffer.from('the payload after the header'), await localHolders(2));
  const { header, headerBytes } = splitObject(object);
  const payload = object.subarray(headerBytes.length);
  for (const sizes of [
    [object.length],
    [1],
    [7],
    [headerBytes.length],
    [headerBytes.length - 1, 1],
    [headerBytes.length + 1],
    [3, 1000, 5],
  ]) {
    const result = await readAll(pieces(object, sizes));
    assert.deepEqual(result.header, header, `pieces ${sizes.join(',')}`);
    assert.ok(result.rest.equals(payload), `rest after pieces ${sizes.join(',')}`);
  }
  // Empty pieces anywhere change nothing.
  const result = await readAll(
    cutAt(object, [0, 0, 10, 10, headerBytes.length, headerBytes.length, object.length]),
  );
  assert.ok(result.rest.equals(payload));
});

void test('empty input and a truncated header are ERR_FORMAT_MALFORMED with distinct messages', async () => {
  const object = await encryptToBuffer(Buffer.alloc(0), await localHolders(2));
  const { headerBytes } = splitObject(object);
  const failure = async (bytes: Buffer): Promise<string> => {
    try {
      await readHeader(pieces(bytes, [100]));
    } catch (error) {
      return assertDkeError(error, 'ERR_FORMAT_MALFORMED').message;
    }
    assert.fail('expected a failure');
  };
  assert.match(await failure(Buffer.alloc(0)), /empty input/);
  for (const length of [1, 7, 8, 26, 100, headerBytes.length - 64, headerBytes.length - 1]) {
    assert.match(
      await failure(headerBytes.subarray(0, length)),
      /truncated OpenDKE header/,
      `length ${length}`,
    );
  }
});

void test('a bad magic fails on the first bytes, without reading the rest of the stream', async () => {
  let pulled = 0;
  async function* endless(): AsyncGenerator<Buffer> {
    for (;;) {
      pulled++;
      yield await Promise.resolve(Buffer.from('X'));
    }
  }
  await assert.rejects(readHeader(endless()), (error: unknown) => {
    assertDkeError(error, 'ERR_FORMAT_MALFORMED');
    return true;
  });
  assert.ok(pulled <= 2, `read ${pulled} pieces`);
});

void test('a maximal header arriving one byte at a time is read in linear time', async () => {
  const stanza = (i: number): Header['stanzas'][number] => ({
    type: 't'.repeat(32),
    keyId: `${'k'.repeat(126)}${String(i).padStart(2, '0')}`,
    locator: 'l'.repeat(2048),
    body: 'b'.repeat(4096),
  });
  const header: Header = {
    version: 1,
    objectId: Buffer.alloc(16, 1),
    chunkLog2: 16,
    stanzas: Array.from({ length: 16 }, (_, i) => stanza(i)),
    commitment: Buffer.alloc(32),
    mac: Buffer.alloc(32),
  };
  const bytes = Buffer.concat([serializeHeader(header), Buffer.from('rest')]);
  // CPU time, not wall time: other processes on a busy machine (parallel test files) cannot make it fail.
  const started = process.cpuUsage();
  const result = await readAll(pieces(bytes, [1]));
  const used = process.cpuUsage(started);
  const elapsed = (used.user + used.system) / 1000;
  assert.deepEqual(result.header, header);
  assert.equal(result.rest.toString(), 'rest');
  // ~101 KB in 1-byte pieces: re-parsing the whole buffer for every byte took about 9 s here.
  assert.ok(elapsed < 2500, `took ${Math.round(elapsed)} ms of CPU`);
});
