/**
 * Property tests of the header parser (fast-check): random valid headers round-trip byte for byte, and
 * random bytes or random mutations of valid headers only ever give a header, "incomplete", or a DkeError
 * ERR_FORMAT_MALFORMED / ERR_FORMAT_UNSUPPORTED_VERSION. Anything the parser accepts re-serializes to
 * exactly the bytes it consumed (no two encodings of one header).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseHeader, serializeHeader, type Header, type Stanza } from '../../src/format/header.js';
import { isDkeError } from '../../src/errors/index.js';
import { encryptToBuffer, localHolders, splitObject } from '../support/format-helpers.js';

const chars = (alphabet: string): fc.Arbitrary<string> => fc.constantFrom(...alphabet.split(''));
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const B64URL = `${LOWER}${LOWER.toUpperCase()}${DIGITS}_-`;

/** A locator: any Unicode text without C0/C1 controls (astral, BOM and U+FFFD included), ≤ 2048 UTF-8 bytes. */
const locatorArb = fc
  .oneof(
    fc.constant(''),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: 'grapheme-ascii', maxLength: 700 }),
    fc.string({ unit: fc.constantFrom('\ufeff', '\ufffd', 'é', '€', '𝄞', '\u00a0', '/'), maxLength: 30 }),
  )
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  .map((text) => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ''))
  .filter((text) => Buffer.byteLength(text, 'utf8') <= 2048);

/** Valid stanzas: a `local` stanza has an empty locator (§4.3). */
const stanzaArb: fc.Arbitrary<Stanza> = fc
  .record(
    {
      type: fc.oneof(
        fc.constant('local'),
        fc.string({ unit: chars(`${LOWER}${DIGITS}-`), minLength: 1, maxLength: 32 }),
      ),
      keyId: fc.string({ unit: chars(B64URL), minLength: 1, maxLength: 128 }),
      locator: locatorArb,
      body: fc.oneof(
        fc.string({ unit: chars(`${B64URL}.`), minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 4096 }).map((n) => 'a.b'.repeat(Math.ceil(n / 3)).slice(0, n)),
      ),
    },
    { noNullPrototype: true },
  )
  .map((stanza) => (stanza.type === 'local' ? { ...stanza, locator: '' } : stanza));

const bytesOf = (length: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: length, maxLength: length }).map((bytes) => Buffer.from(bytes));

const headerArb: fc.Arbitrary<Header> = fc.record(
  {
    version: fc.constant(1),
    objectId: bytesOf(16),
    chunkLog2: fc.integer({ min: 12, max: 24 }),
    // Every holder key appears once per file (§3).
    stanzas: fc.uniqueArray(stanzaArb, { minLength: 2, maxLength: 16, selector: (stanza) => stanza.keyId }),
    commitment: bytesOf(32),
    mac: bytesOf(32),
  },
  { noNullPrototype: true },
);

const ALLOWED = new Set(['ERR_FORMAT_MALFORMED', 'ERR_FORMAT_UNSUPPORTED_VERSION']);

/** Parses and checks the contract: a canonical header, incomplete, or one of the two format errors. */
function parseChecked(bytes: Buffer): 'header' | 'incomplete' | 'error' {
  let result;
  try {
    result = parseHeader(bytes);
  } catch (error) {
    assert.ok(isDkeError(error), `threw a non-DkeError: ${String(error)}`);
    assert.ok(ALLOWED.has(error.code), `unexpected code ${error.code}`);
    return 'error';
  }
  if ('incomplete' in result) return 'incomplete';
  assert.ok(result.length <= bytes.length);
  assert.ok(
    serializeHeader(result.header).equals(bytes.subarray(0, result.length)),
    'accepted bytes are canonical',
  );
  return 'header';
}

void test('random valid headers: parse(serialize(h)) == h and serialize(parse(b)) == b', () => {
  fc.assert(
    fc.property(headerArb, bytesOf(5), (header, trailing) => {
      const bytes = serializeHeader(header);
      const result = parseHeader(Buffer.concat([bytes, trailing]));
      assert.ok(!('incomplete' in result));
      assert.equal(result.length, bytes.length);
      assert.deepEqual(result.header, header);
      assert.ok(serializeHeader(result.header).equals(bytes));
    }),
    { numRuns: 300 },
  );
});

void test('random valid headers: every prefix is incomplete', () => {
  fc.assert(
    fc.property(headerArb, fc.array(fc.nat(), { maxLength: 20 }), (header, cuts) => {
      const bytes = serializeHeader(header);
      for (const cut of [0, 7, 8, 25, 26, bytes.length - 1, ...cuts.map((c) => c % bytes.length)]) {
        assert.deepEqual(parseHeader(bytes.subarray(0, cut)), { incomplete: true }, `prefix ${cut}`);
      }
    }),
    { numRuns: 100 },
  );
});

void test('random bytes: only a header, incomplete, or a format error', () => {
  const magic = Buffer.from('OpenDKE');
  const arbitraryInput = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    // Past the magic (and often the version), so the deeper parser is reached.
    fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.concat([magic, Buffer.from(b)])),
    fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.concat([magic, Buffer.from([1]), Buffer.from(b)])),
    fc
      .tuple(
        bytesOf(16),
        fc.integer({ min: 12, max: 24 }),
        fc.integer({ min: 2, max: 16 }),
        fc.uint8Array({ maxLength: 3000 }),
      )
      .map(([oid, log2, count, rest]) =>
        Buffer.concat([magic, Buffer.from([1]), oid, Buffer.from([log2, count]), Buffer.from(rest)]),
      ),
  );
  fc.assert(
    fc.property(arbitraryInput, (bytes) => {
      parseChecked(bytes);
    }),
    { numRuns: 3000 },
  );
});

const holders = await localHolders(2);
const realHeader = splitObject(await encryptToBuffer(Buffer.from('fuzz'), holders)).headerBytes;

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(bytes: Buffer, mutation: Mutation): Buffer {
  const at = bytes.length === 0 ? 0 : mutation.at % bytes.length;
  switch (mutation.kind) {
    case 'flip': {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[at] = (copy[at] as number) ^ mutation.mask;
      return copy;
    }
    case 'set': {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[at] = mutation.value;
      return copy;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + mutation.length)]);
    case 'truncate':
      return bytes.subarray(0, at);
  }
}

void test('random mutations of a real header: only a header, incomplete, or a format error', () => {
  const outcomes = { header: 0, incomplete: 0, error: 0 };
  fc.assert(
    fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 6 }), (mutations) => {
      const bytes = mutations.reduce(mutate, realHeader);
      outcomes[parseChecked(bytes)]++;
    }),
    { numRuns: 3000 },
  );
  // The mix shows the mutations reach every outcome (the test would be vacuous otherwise).
  assert.ok(outcomes.header > 0 && outcomes.incomplete > 0 && outcomes.error > 0, JSON.stringify(outcomes));
});

void test('random mutations of random valid headers: same contract', () => {
  fc.assert(
    fc.property(headerArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (header, mutations) => {
      parseChecked(mutations.reduce(mutate, serializeHeader(header)));
    }),
    { numRuns: 500 },
  );
});
