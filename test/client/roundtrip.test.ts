/**
 * encrypt → decrypt round trips through the library: the sizes around chunk boundaries (0, 1, C-1, C, C+1,
 * several chunks) at the default chunk size with real holders, sizes 0 to 3*4096+1 at the small chunk size
 * (every size near a boundary), input fed in odd pieces and byte by byte, random sizes and random cuts of both plaintext and ciphertext
 * (fast-check), several holder key types, and the Readable wrappers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { decrypt, decryptIterable } from '../../src/client/decrypt.js';
import { encrypt, encryptIterable } from '../../src/client/encrypt.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';
import { TAG_LENGTH } from '../../src/format/constants.js';
import type { ErrorCode } from '../../src/errors/index.js';
import {
  C,
  SMALL_C,
  SMALL_LOG2,
  cleartextHolders,
  collect,
  cutAt,
  assertDkeError,
  decryptToBuffer,
  ecKeys,
  flipBit,
  encryptToBuffer,
  localHolders,
  patternBytes,
  pieces,
  publicHolder,
  splitObject,
  vectorKey,
} from '../support/format-helpers.js';

const holders = await localHolders(2);
/** Encryptors only have public keys; decryptors have private keys. */
const encryptors = await Promise.all(ecKeys('P-256', 2).map(publicHolder));

/** Plaintext bytes + 16 per chunk (at least one chunk) after the header. */
function expectedPayload(length: number, chunkSize: number): number {
  return length + TAG_LENGTH * Math.max(1, Math.ceil(length / chunkSize));
}

void test('default chunk size: 0, 1, C-1, C, C+1 and several chunks, in odd input pieces', async () => {
  const pieceSets = [undefined, [1], [7, 65535], [65537, 3], [C], [C + 16]];
  for (const length of [0, 1, C - 1, C, C + 1, 2 * C, 3 * C + 7]) {
    const plaintext = patternBytes(length, length + 1);
    for (const sizes of length > 2 * C ? [undefined, [7, 65535]] : pieceSets) {
      if (sizes?.[0] === 1 && length > 1) continue; // 1-byte pieces at chunk boundaries: see below
      const object = await encryptToBuffer(plaintext, encryptors, {}, sizes);
      const { headerBytes } = splitObject(object);
      assert.equal(object.length - headerBytes.length, expectedPayload(length, C), `size of ${length}`);
      const back = await decryptToBuffer(object, holders, {}, sizes ?? [4096 + 16, 1, C + 17]);
      assert.ok(back.equals(plaintext), `round trip of ${length} bytes in pieces ${String(sizes)}`);
    }
  }
});

/** Sizes 0..3*4096+1: every size within 300 bytes of a chunk boundary, every 7th size in between. */
function sweepSizes(): number[] {
  const sizes: number[] = [];
  for (let length = 0; length <= 3 * SMALL_C + 1; length++) {
    const distance = Math.min(...[0, 1, 2, 3].map((k) => Math.abs(length - k * SMALL_C)));
    if (distance <= 300 || length % 7 === 0) sizes.push(length);
  }
  return sizes;
}

void test('small chunks: sizes 0 to 3*4096+1, densely around every boundary (cleartext test holders)', async () => {
  const fast = cleartextHolders(2);
  const data = patternBytes(3 * SMALL_C + 1, 99);
  const oddPieces = [[1000], [4095, 2], [4097], [13, 8191], [SMALL_C * 4]];
  const sizes = sweepSizes();
  assert.ok(sizes.length > 3000 && sizes.includes(3 * SMALL_C + 1) && sizes.includes(SMALL_C - 1));
  for (const length of sizes) {
    const plaintext = data.subarray(0, length);
    const object = await encryptToBuffer(plaintext, fast, { chunkLog2: SMALL_LOG2 }, oddPieces[length % 5]);
    const { headerBytes, chunks } = splitObject(object);
    assert.equal(chunks.length, Math.max(1, Math.ceil(length / SMALL_C)), `chunks of ${length}`);
    assert.equal(object.length - headerBytes.length, expectedPayload(length, SMALL_C));
    const back = await decryptToBuffer(object, fast, {}, oddPieces[(length + 2) % 5]);
    if (!back.equals(plaintext)) assert.fail(`round trip of ${length} bytes`);
  }
});

void test('byte-at-a-time input around the chunk boundaries', async () => {
  for (const length of [0, 1, SMALL_C - 1, SMALL_C, SMALL_C + 1, 2 * SMALL_C]) {
    const plaintext = patternBytes(length, 5);
    const object = await encryptToBuffer(plaintext, encryptors, { chunkLog2: SMALL_LOG2 }, [1]);
    assert.ok((await decryptToBuffer(object, holders, {}, [1])).equals(plaintext), `${length} bytes`);
  }
});

void test('property: random sizes, chunk sizes and random cuts of plaintext and ciphertext round-trip', async () => {
  const fast = cleartextHolders(3);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 40 * SMALL_C + 100 }),
      fc.integer({ min: 12, max: 14 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.integer({ min: 1, max: 1000 }),
      async (length, chunkLog2, plainCuts, cipherCuts, seed) => {
        const plaintext = patternBytes(length, seed);
        const object = await collect(
          encryptIterable(
            cutAt(
              plaintext,
              plainCuts.map((c) => c % (length + 1)),
            ),
            fast,
            { chunkLog2 },
          ),
        );
        assert.equal(splitObject(object).chunks.length, Math.max(1, Math.ceil(length / 2 ** chunkLog2)));
        const back = await collect(
          decryptIterable(
            cutAt(
              object,
              cipherCuts.map((c) => c % (object.length + 1)),
            ),
            fast,
          ),
        );
        assert.ok(back.equals(plaintext));
      },
    ),
    { numRuns: 150 },
  );
});

void test('property: real P-256 holders, random sizes and cuts', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 5 * SMALL_C }),
      fc.array(fc.integer({ min: 0, max: 5 * SMALL_C + 2000 }), { maxLength: 6 }),
      async (length, cuts) => {
        const plaintext = patternBytes(length, length);
        const object = await collect(
          encryptIterable(
            cutAt(
              plaintext,
              cuts.filter((c) => c <= length),
            ),
            encryptors,
            { chunkLog2: SMALL_LOG2 },
          ),
        );
        const back = await collect(decryptIterable(cutAt(object, cuts), holders));
        assert.ok(back.equals(plaintext));
      },
    ),
    { numRuns: 25 },
  );
});

void test('objects of more chunks than are kept in flight round-trip, at the default size', async () => {
  // 40 chunks plus a bit: more than the pipeline's window (chunk-pipeline.ts), in pieces unaligned to anything.
  const plaintext = patternBytes(40 * C + 12345, 11);
  const object = await encryptToBuffer(plaintext, encryptors, {}, [100_003]);
  assert.equal(splitObject(object).chunks.length, 41);
  assert.ok((await decryptToBuffer(object, holders, {}, [77_777])).equals(plaintext));
});

void test('holder key types: RSA-3072 with P-384, and P-256 + P-384 + P-521', async () => {
  const rsa = await LocalKeyHolder.fromKey(vectorKey('valid-rsa3072-p384', 'RSA-3072'));
  const [p256] = ecKeys('P-256', 1);
  const [p384] = ecKeys('P-384', 1);
  const [p521] = ecKeys('P-521', 1);
  const sets = [
    [rsa, await LocalKeyHolder.fromKey(p384!)],
    await Promise.all([p256!, p384!, p521!].map((key) => LocalKeyHolder.fromKey(key))),
  ];
  for (const set of sets) {
    for (const length of [0, SMALL_C + 1]) {
      const plaintext = patternBytes(length, 3);
      const object = await encryptToBuffer(plaintext, set, { chunkLog2: SMALL_LOG2 });
      assert.equal(splitObject(object).header.stanzas.length, set.length);
      // The decryptor's holders may come in any order and include unrelated keys.
      const shuffled = [...set].reverse().concat(holders);
      assert.ok((await decryptToBuffer(object, shuffled)).equals(plaintext));
    }
  }
});

void test('the Readable wrappers encrypt() and decrypt() work in a stream pipeline', async () => {
  const plaintext = patternBytes(3 * C + 5, 21);
  const encrypted: Buffer[] = [];
  await pipeline(
    encrypt(pieces(plaintext, [50_000]), encryptors),
    async function (source: AsyncIterable<Buffer>) {
      for await (const part of source) encrypted.push(Buffer.from(part));
    },
  );
  const object = Buffer.concat(encrypted);
  const decrypted = decrypt(Readable.from(pieces(object, [30_000])), holders);
  assert.ok((await collect(decrypted)).equals(plaintext));
});

void test('decrypt() as a Readable surfaces a failure as a stream error with the DkeError', async () => {
  const object = await encryptToBuffer(Buffer.from('x'), encryptors);
  const stream = decrypt(pieces(object.subarray(0, object.length - 1)), holders);
  await assert.rejects(collect(stream), (error: unknown) => {
    assert.equal((error as { code?: string }).code, 'ERR_DECRYPTION_FAILED');
    return true;
  });
});

void test('onHeader is called once with the authenticated header, before any plaintext', async () => {
  const object = await encryptToBuffer(patternBytes(2 * SMALL_C), encryptors, { chunkLog2: SMALL_LOG2 });
  const events: string[] = [];
  for await (const part of decryptIterable(pieces(object), holders, {
    onHeader: (header) => events.push(`header ${header.chunkLog2} ${header.stanzas.length}`),
  })) {
    events.push(`plaintext ${part.length > 0}`);
  }
  assert.equal(events[0], `header ${SMALL_LOG2} 2`);
  assert.equal(events.filter((e) => e.startsWith('header')).length, 1);
  assert.ok(events.length > 1);
  // Not called when the header does not authenticate.
  let called = false;
  const tampered = Buffer.from(object);
  const last = splitObject(object).headerBytes.length - 1;
  tampered[last] = (tampered[last] as number) ^ 1;
  await assert.rejects(
    collect(decryptIterable(pieces(tampered), holders, { onHeader: () => (called = true) })),
  );
  assert.equal(called, false);
});

test('a decryption refused after the header closes its source (no file handle left open)', async () => {
  const object = await encryptToBuffer(patternBytes(3 * C), holders);
  const cases: [string, readonly LocalKeyHolder[], ErrorCode][] = [
    ['a missing key', [holders[0] as LocalKeyHolder], 'ERR_HOLDER_KEY_MISSING'],
    ['a tampered payload', holders, 'ERR_DECRYPTION_FAILED'],
    ['success', holders, 'ERR_INTERNAL'],
  ];
  for (const [what, keys, code] of cases) {
    let closed = false;
    const input = what === 'a tampered payload' ? flipBit(object, object.length - 1) : object;
    // Like the CLI's file reader: a generator whose `finally` closes the file.
    async function* source(): AsyncGenerator<Buffer> {
      try {
        for (let at = 0; at < input.length; at += 4096) {
          await new Promise(setImmediate); // a read
          yield input.subarray(at, at + 4096);
        }
      } finally {
        closed = true;
      }
    }
    try {
      await collect(decryptIterable(source(), keys));
      assert.equal(what, 'success');
    } catch (error) {
      assertDkeError(error, code);
    }
    assert.equal(closed, true, `${what}: the source was left suspended`);
  }
});

void test('a source that overwrites its one buffer when the next piece is requested still round-trips', async () => {
  // The chunk cipher's jobs copy their input when called (chunk-cipher.ts); with several jobs in flight,
  // a source that reuses its buffer must not change what was sealed or opened.
  const plaintext = patternBytes(37 * SMALL_C + 99, 5);
  async function* reusing(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
    const buffer = Buffer.alloc(size);
    for (let at = 0; at < bytes.length; at += size) {
      const length = bytes.copy(buffer, 0, at, at + size);
      yield await Promise.resolve(buffer.subarray(0, length));
      buffer.fill(0xa5); // what a careless producer does before it reads the next piece
    }
  }
  const sealed: Buffer[] = [];
  for await (const part of encryptIterable(reusing(plaintext, SMALL_C), holders, { chunkLog2: SMALL_LOG2 }))
    sealed.push(part);
  const object = Buffer.concat(sealed);
  const opened: Buffer[] = [];
  for await (const part of decryptIterable(reusing(object, SMALL_C + 16), holders)) opened.push(part);
  assert.ok(Buffer.concat(opened).equals(plaintext));
});
