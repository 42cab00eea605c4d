/**
 * The v1 header byte layout (docs/format.md §3) and the parser's strictness (§7 steps 1-3): exact field
 * offsets of a real header, every limit at and one past its edge, character sets, UTF-8 locators, the
 * order of checks (magic, then version, before anything else) and "incomplete" for every proper prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHeader, serializeHeader, type Header, type Stanza } from '../../src/format/header.js';
import type { ErrorCode } from '../../src/errors/index.js';
import {
  assertDkeError,
  encryptToBuffer,
  headerLayout,
  localHolders,
  rawStanza,
  splitObject,
} from '../support/format-helpers.js';

const stanza = (overrides: Partial<Stanza> = {}): Stanza => ({
  type: 'local',
  keyId: 'kid-A_1',
  locator: '',
  body: 'aGVhZGVy.a2V5.aXY.Y3Q.dGFn',
  ...overrides,
});

const synthetic = (overrides: Partial<Header> = {}): Header => ({
  version: 1,
  objectId: Buffer.alloc(16, 0xab),
  chunkLog2: 16,
  stanzas: [stanza(), stanza({ type: 'remote', keyId: 'kid-B', locator: 'https://keys.example/keys/b' })],
  commitment: Buffer.alloc(32, 0xc0),
  mac: Buffer.alloc(32, 0x3a),
  ...overrides,
});

/** Raw header bytes from parts (no validation), for inputs the serializer refuses to write. */
function rawHeader(parts: {
  version?: number;
  chunkLog2?: number;
  count?: number;
  stanzas?: readonly Buffer[];
  tail?: Buffer;
}): Buffer {
  const stanzas = parts.stanzas ?? [rawStanza(stanza()), rawStanza(stanza({ keyId: 'kid-B' }))];
  return Buffer.concat([
    Buffer.from('OpenDKE'),
    Buffer.from([parts.version ?? 1]),
    Buffer.alloc(16, 7),
    Buffer.from([parts.chunkLog2 ?? 16, parts.count ?? stanzas.length]),
    ...stanzas,
    parts.tail ?? Buffer.alloc(64, 9),
  ]);
}

function parseError(bytes: Buffer, code: ErrorCode = 'ERR_FORMAT_MALFORMED'): void {
  let thrown: unknown;
  try {
    parseHeader(bytes);
  } catch (error) {
    thrown = error;
  }
  assertDkeError(thrown, code);
}

function parsed(bytes: Buffer): { header: Header; length: number } {
  const result = parseHeader(bytes);
  assert.ok(!('incomplete' in result), 'expected a complete header');
  return result;
}

void test('a real header has exactly the layout of docs/format.md §3', async () => {
  const holders = await localHolders(2);
  const object = await encryptToBuffer(Buffer.from('layout'), holders);
  const { header, headerBytes } = splitObject(object);
  const layout = headerLayout(header);
  assert.equal(headerBytes.subarray(0, 7).toString('hex'), '4f70656e444b45');
  assert.equal(headerBytes[layout.version], 1);
  assert.ok(headerBytes.subarray(layout.objectId, layout.objectId + 16).equals(header.objectId));
  assert.equal(headerBytes[layout.chunkLog2], 20, 'writers use chunk_log2 20');
  assert.equal(headerBytes[layout.holderCount], 2);
  for (const [i, s] of layout.stanzas.entries()) {
    const expected = header.stanzas[i] as Stanza;
    assert.equal(expected.keyId, holders[i]?.keyId, 'stanzas in holder order');
    assert.equal(headerBytes[s.typeLength], 5);
    assert.equal(headerBytes.subarray(s.type, s.keyIdLength).toString('latin1'), 'local');
    assert.equal(headerBytes[s.keyIdLength], 43, 'key id is a 43-character thumbprint');
    assert.equal(headerBytes.subarray(s.keyId, s.locatorLength).toString('latin1'), expected.keyId);
    assert.equal(headerBytes.readUInt16BE(s.locatorLength), 0, 'local holders have an empty locator');
    assert.equal(headerBytes.readUInt16BE(s.bodyLength), expected.body.length);
    assert.equal(headerBytes.subarray(s.body, s.end).toString('latin1'), expected.body);
  }
  assert.ok(headerBytes.subarray(layout.commitment, layout.mac).equals(header.commitment));
  assert.ok(headerBytes.subarray(layout.mac, layout.end).equals(header.mac));
  assert.equal(layout.end, headerBytes.length);
  assert.ok(serializeHeader(header).equals(headerBytes), 'serialize(parse(b)) == b');
});

void test('parse and serialize are inverse; bytes after the header are not consumed', () => {
  const header = synthetic();
  const bytes = serializeHeader(header);
  const withPayload = Buffer.concat([bytes, Buffer.from('payload bytes')]);
  const result = parsed(withPayload);
  assert.equal(result.length, bytes.length);
  assert.deepEqual(result.header, header);
  assert.ok(serializeHeader(result.header).equals(bytes));
});

void test('every proper prefix of a valid header is incomplete, never an error', async () => {
  const object = await encryptToBuffer(Buffer.alloc(0), await localHolders(2));
  const { headerBytes } = splitObject(object);
  for (let length = 0; length < headerBytes.length; length++) {
    assert.deepEqual(parseHeader(headerBytes.subarray(0, length)), { incomplete: true }, `prefix ${length}`);
  }
  assert.equal(parsed(headerBytes).length, headerBytes.length);
});

void test('magic: any wrong byte is ERR_FORMAT_MALFORMED as soon as it is seen', () => {
  for (let i = 0; i < 7; i++) {
    const bytes = rawHeader({});
    bytes[i] = (bytes[i] as number) ^ 0x20;
    parseError(bytes);
    parseError(bytes.subarray(0, i + 1)); // no need to wait for more input
  }
  parseError(Buffer.from('%PDF-1.7\n'));
  parseError(Buffer.from('opendke'));
});

void test('version: anything but 0x01 is ERR_FORMAT_UNSUPPORTED_VERSION, checked before any later byte', () => {
  for (const version of [0, 2, 0x81, 255]) {
    const bytes = rawHeader({ version, chunkLog2: 0, count: 0 }); // later fields invalid too: not interpreted
    parseError(bytes, 'ERR_FORMAT_UNSUPPORTED_VERSION');
    // A future version may have a shorter header: the version byte alone decides.
    parseError(Buffer.from([...Buffer.from('OpenDKE'), version]), 'ERR_FORMAT_UNSUPPORTED_VERSION');
  }
});

void test('chunk_log2 must be 12..24', () => {
  for (const chunkLog2 of [12, 16, 24])
    assert.equal(parsed(rawHeader({ chunkLog2 })).header.chunkLog2, chunkLog2);
  for (const chunkLog2 of [0, 11, 25, 64, 255]) parseError(rawHeader({ chunkLog2 }));
  // Rejected from the fixed prefix alone.
  for (const chunkLog2 of [11, 25]) parseError(rawHeader({ chunkLog2 }).subarray(0, 26));
});

void test('holder_count must be 2..16', () => {
  const sixteen = Array.from({ length: 16 }, (_, i) => rawStanza(stanza({ keyId: `k${i}` })));
  assert.equal(parsed(rawHeader({ stanzas: sixteen })).header.stanzas.length, 16);
  for (const count of [0, 1, 17, 255]) parseError(rawHeader({ count }).subarray(0, 26));
  parseError(rawHeader({ stanzas: [rawStanza(stanza())] }));
  parseError(rawHeader({ stanzas: [...sixteen, rawStanza(stanza({ keyId: 'k16' }))] }));
});

void test('stanza type: 1..32 characters of [a-z0-9-]', () => {
  const ok = (type: string): string =>
    parsed(rawHeader({ stanzas: [rawStanza(stanza({ type })), rawStanza(stanza({ keyId: 'kid-B' }))] }))
      .header.stanzas[0]!.type;
  assert.equal(ok('local'), 'local');
  assert.equal(ok('a'), 'a');
  assert.equal(ok('x'.repeat(32)), 'x'.repeat(32));
  assert.equal(ok('hsm-v2'), 'hsm-v2');
  for (const type of ['', 'Local', 'lo_cal', 'lo cal', 'local\n', 'lökal', 'x'.repeat(33)]) {
    parseError(rawHeader({ stanzas: [rawStanza(stanza({ type })), rawStanza(stanza({ keyId: 'kid-B' }))] }));
  }
});

void test('key id: 1..128 characters of the base64url alphabet', () => {
  for (const keyId of ['a', 'A-z_09', 'k'.repeat(128)]) {
    assert.equal(
      parsed(rawHeader({ stanzas: [rawStanza(stanza({ keyId })), rawStanza(stanza({ keyId: 'kid-B' }))] }))
        .header.stanzas[0]!.keyId,
      keyId,
    );
  }
  for (const keyId of ['', 'a+b', 'a/b', 'abc=', 'a.b', 'k'.repeat(129)]) {
    parseError(rawHeader({ stanzas: [rawStanza(stanza({ keyId })), rawStanza(stanza({ keyId: 'kid-B' }))] }));
  }
});

void test('locator: at most 2048 bytes of UTF-8 without C0/C1 controls', () => {
  const roundTrip = (locator: string): void => {
    const header = synthetic({ stanzas: [stanza({ type: 'remote', locator }), stanza({ keyId: 'other' })] });
    const bytes = serializeHeader(header);
    assert.deepEqual(parsed(bytes).header, header, `locator ${JSON.stringify(locator)}`);
  };
  roundTrip('https://keys.example/keys/customer-1');
  roundTrip('https://bücher.example/keys/schlüssel-€-𝄞');
  roundTrip('\u00a0non-breaking space and \ufffd replacement character');
  roundTrip('\ufeffa locator that starts with U+FEFF (a BOM) is still just UTF-8');
  roundTrip('l'.repeat(2048));
  roundTrip('€'.repeat(682) + 'xx'); // 2048 bytes, 684 characters

  const withLocator = (locator: Buffer): Buffer => {
    // A 5-letter type like `local`, but one that may have a locator.
    const good = rawStanza(stanza({ type: 'hsm-1', locator: 'x' }));
    // Replace the 1-byte locator "x" of a raw stanza with arbitrary bytes.
    const at = 1 + 5 + 1 + 7;
    const length = Buffer.from([locator.length >> 8, locator.length & 0xff]);
    return rawHeader({
      stanzas: [
        Buffer.concat([good.subarray(0, at), length, locator, good.subarray(at + 3)]),
        rawStanza(stanza({ keyId: 'kid-B' })),
      ],
    });
  };
  assert.equal(parsed(withLocator(Buffer.from('ok'))).header.stanzas[0]!.locator, 'ok');
  const bad = [
    Buffer.from([0x00]),
    Buffer.from('tab\there'),
    Buffer.from('new\nline'),
    Buffer.from('del\x7f'),
    Buffer.from('c1 \u0085 next-line'),
    Buffer.from('c1 \u009f'),
    Buffer.from([0xff]), // never valid in UTF-8
    Buffer.from([0xc0, 0x80]), // overlong NUL
    Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate encoded as UTF-8
    Buffer.from([0xe2, 0x82]), // truncated sequence
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
    Buffer.alloc(2049, 0x6c),
  ];
  for (const locator of bad) parseError(withLocator(locator));
});

void test('body: 1..4096 characters of [A-Za-z0-9_.-]', () => {
  for (const body of ['a', 'a.b.c.d.e', 'b'.repeat(4096)]) {
    assert.equal(
      parsed(rawHeader({ stanzas: [rawStanza(stanza({ body })), rawStanza(stanza({ keyId: 'kid-B' }))] }))
        .header.stanzas[0]!.body,
      body,
    );
  }
  for (const body of ['', 'a b', 'a+b', 'a=', 'a/b', 'b'.repeat(4097)]) {
    parseError(rawHeader({ stanzas: [rawStanza(stanza({ body })), rawStanza(stanza({ keyId: 'kid-B' }))] }));
  }
});

void test('a length above its limit fails at once, without waiting for the field bytes', () => {
  const prefix = rawHeader({}).subarray(0, 26);
  const cases: Buffer[] = [
    Buffer.from([33]), // type_len
    Buffer.from([5, ...Buffer.from('local'), 129]), // kid_len
    Buffer.from([5, ...Buffer.from('local'), 1, 0x61, 0x08, 0x01]), // loc_len 2049
    Buffer.from([5, ...Buffer.from('local'), 1, 0x61, 0, 0, 0x10, 0x01]), // body_len 4097
    Buffer.from([5, ...Buffer.from('local'), 1, 0x61, 0xff, 0xff]), // loc_len 65535
  ];
  for (const tail of cases) parseError(Buffer.concat([prefix, tail]));
});

void test('the largest header (16 stanzas at every limit) parses', () => {
  const stanzas = Array.from({ length: 16 }, (_, i) =>
    stanza({
      type: 't'.repeat(32),
      keyId: `${'k'.repeat(126)}${i.toString().padStart(2, '0')}`,
      locator: 'l'.repeat(2048),
      body: 'b'.repeat(4096),
    }),
  );
  const header = synthetic({ stanzas, chunkLog2: 24 });
  const bytes = serializeHeader(header);
  assert.equal(bytes.length, 26 + 16 * (1 + 32 + 1 + 128 + 2 + 2048 + 2 + 4096) + 64);
  assert.deepEqual(parsed(bytes).header, header);
});

void test('the serializer refuses what the parser would reject (writers cannot produce invalid headers)', () => {
  const refuse = (header: Header): void => {
    let thrown: unknown;
    try {
      serializeHeader(header);
    } catch (error) {
      thrown = error;
    }
    assertDkeError(thrown, 'ERR_FORMAT_MALFORMED');
  };
  refuse(synthetic({ stanzas: [stanza()] }));
  refuse(synthetic({ stanzas: Array.from({ length: 17 }, (_, i) => stanza({ keyId: `k${i}` })) }));
  refuse(synthetic({ stanzas: [stanza({ type: 'Local' }), stanza({ keyId: 'kid-B' })] }));
  refuse(synthetic({ stanzas: [stanza({ keyId: 'a+b' }), stanza({ keyId: 'kid-B' })] }));
  refuse(synthetic({ stanzas: [stanza({ locator: 'a\nb' }), stanza({ keyId: 'kid-B' })] }));
  refuse(synthetic({ stanzas: [stanza({ locator: 'x'.repeat(2049) }), stanza({ keyId: 'kid-B' })] }));
  refuse(synthetic({ stanzas: [stanza({ body: '' }), stanza({ keyId: 'kid-B' })] }));
  // A string that has no UTF-8 encoding (a lone surrogate) cannot be a locator.
  refuse(
    synthetic({
      stanzas: [stanza({ type: 'remote', locator: 'https://x.example/\ud800' }), stanza({ keyId: 'kid-B' })],
    }),
  );
  // A local stanza has an empty locator; no holder key appears twice (§3, §4.3).
  refuse(
    synthetic({ stanzas: [stanza({ locator: 'https://keys.example/keys/a' }), stanza({ keyId: 'b' })] }),
  );
  refuse(
    synthetic({ stanzas: [stanza(), stanza({ type: 'remote', locator: 'https://keys.example/keys/a' })] }),
  );
});

void test('a local stanza with a non-empty locator is ERR_FORMAT_MALFORMED (§4.3: it MUST be empty)', () => {
  for (const locator of ['x', ' ', 'https://keys.example/keys/a']) {
    parseError(
      rawHeader({ stanzas: [rawStanza(stanza({ locator })), rawStanza(stanza({ keyId: 'kid-B' }))] }),
    );
  }
  // The same locator on a remote or unknown-type stanza is fine.
  for (const type of ['remote', 'hsm-v2']) {
    const stanzas = [rawStanza(stanza({ type, locator: 'x' })), rawStanza(stanza({ keyId: 'kid-B' }))];
    assert.equal(parsed(rawHeader({ stanzas })).header.stanzas[0]!.locator, 'x');
  }
});

void test('the same holder key id twice in one header is ERR_FORMAT_MALFORMED, whatever the types', () => {
  const twice = (second: Partial<Stanza>): Buffer =>
    rawHeader({ stanzas: [rawStanza(stanza()), rawStanza(stanza(second))] });
  parseError(twice({}));
  parseError(twice({ type: 'remote', locator: 'https://keys.example/keys/a' }));
  parseError(twice({ type: 'hsm-v2', body: 'b.b.b.b.b' }));
  parseError(
    rawHeader({
      stanzas: [
        rawStanza(stanza({ keyId: 'k1' })),
        rawStanza(stanza({ keyId: 'k2' })),
        rawStanza(stanza({ keyId: 'k1' })),
      ],
    }),
  );
  // Key ids are compared exactly: case differs, so these are two keys.
  assert.equal(
    parsed(rawHeader({ stanzas: [rawStanza(stanza({ keyId: 'abc' })), rawStanza(stanza({ keyId: 'ABC' }))] }))
      .header.stanzas.length,
    2,
  );
});
