/**
 * Tampering with real objects (docs/format.md §5-7): every header bit position, every chunk, truncation
 * at and between chunk boundaries, reordered/duplicated/dropped chunks, trailing data, holder keys
 * missing or wrong, and stanzas spliced in from other objects. Each is rejected with a DkeError of the
 * documented code, and no plaintext is released that did not authenticate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import type { ErrorCode } from '../../src/errors/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';
import {
  SMALL_C,
  SMALL_LOG2,
  SpyRemoteHolder,
  ForgedHolder,
  assertDkeError,
  decryptOutcome,
  ecKeys,
  encryptToBuffer,
  expectDecryptError,
  flipBit,
  headerLayout,
  joinObject,
  localHolders,
  patternBytes,
  replaceStanzas,
  sealedSize,
  splitObject,
} from '../support/format-helpers.js';

const holders = await localHolders(2);
const [holderA, holderB] = holders as [LocalKeyHolder, LocalKeyHolder];

void test('every header byte, one bit flipped: always a DkeError of the code its field implies, never plaintext', async (t) => {
  const plaintext = Buffer.from('header tamper test');
  const object = await encryptToBuffer(plaintext, holders);
  const { header, headerBytes } = splitObject(object);
  const layout = headerLayout(header);
  const last = layout.stanzas.length - 1;

  // Which codes each field may produce (why: docs/format.md §7, order of checks).
  const MALFORMED: ErrorCode = 'ERR_FORMAT_MALFORMED';
  const allowed = (offset: number, flipped: number): readonly ErrorCode[] => {
    if (offset < layout.version) return [MALFORMED];
    if (offset === layout.version) return ['ERR_FORMAT_UNSUPPORTED_VERSION'];
    if (offset < layout.chunkLog2) return ['ERR_HOLDER_BINDING_MISMATCH']; // JWE oid no longer matches
    if (offset === layout.chunkLog2)
      return flipped >= 12 && flipped <= 24 ? ['ERR_DECRYPTION_FAILED'] : [MALFORMED];
    if (offset === layout.holderCount) return [MALFORMED];
    if (offset >= layout.commitment) return ['ERR_DECRYPTION_FAILED'];
    const index = layout.stanzas.findIndex((s) => offset < s.end);
    const s = layout.stanzas[index]!;
    if (offset < s.type) return [MALFORMED];
    if (offset < s.keyIdLength) return [MALFORMED, 'ERR_HOLDER_TYPE_UNSUPPORTED'];
    if (offset < s.keyId) return [MALFORMED];
    if (offset < s.locatorLength) return [MALFORMED, 'ERR_HOLDER_BINDING_MISMATCH']; // JWE kid no longer matches
    if (offset < s.body) {
      // Lengths: the fields shift. Only a shorter last body can still parse (the header ends early).
      return index === last && offset >= s.bodyLength
        ? [MALFORMED, 'ERR_HOLDER_BINDING_MISMATCH', 'ERR_HOLDER_UNWRAP_FAILED', 'ERR_DECRYPTION_FAILED']
        : [MALFORMED];
    }
    // The JWE: unreadable protected header, failed unwrap, or (base64 padding bits) only the MAC differs.
    return [MALFORMED, 'ERR_HOLDER_BINDING_MISMATCH', 'ERR_HOLDER_UNWRAP_FAILED', 'ERR_DECRYPTION_FAILED'];
  };

  const seen = new Map<string, number>();
  let attempts = 0;
  for (let offset = 0; offset < headerBytes.length; offset++) {
    // All eight bits of the fixed prefix; one bit (rotating) of every other byte.
    const bits = offset <= layout.holderCount ? [0, 1, 2, 3, 4, 5, 6, 7] : [offset % 8];
    for (const bit of bits) {
      attempts++;
      const tampered = flipBit(object, offset, bit);
      const outcome = await decryptOutcome(tampered, holders);
      assert.ok(
        isDkeError(outcome.error),
        `offset ${offset} bit ${bit}: not a DkeError: ${String(outcome.error)}`,
      );
      assert.equal(outcome.released.length, 0, `offset ${offset} bit ${bit}: plaintext released`);
      const code = outcome.error.code;
      const expected = allowed(offset, (headerBytes[offset] as number) ^ (1 << bit));
      assert.ok(expected.includes(code), `offset ${offset} bit ${bit}: ${code} not in ${expected.join('|')}`);
      seen.set(code, (seen.get(code) ?? 0) + 1);
    }
  }
  t.diagnostic(
    `${attempts} flips over ${headerBytes.length} header bytes: ${JSON.stringify(Object.fromEntries(seen))}`,
  );
  for (const code of [
    'ERR_FORMAT_MALFORMED',
    'ERR_FORMAT_UNSUPPORTED_VERSION',
    'ERR_HOLDER_BINDING_MISMATCH',
    'ERR_HOLDER_TYPE_UNSUPPORTED',
    'ERR_HOLDER_UNWRAP_FAILED',
    'ERR_DECRYPTION_FAILED',
  ]) {
    assert.ok((seen.get(code) ?? 0) > 0, `some flip should give ${code}`);
  }
});

// A multi-chunk object at the small chunk size: 20 full chunks and a partial one (more than the 16 chunks
// the pipeline keeps in flight at this size, so a failure is found while later chunks are being opened).
const CHUNKS = 21;
const plaintext = patternBytes(20 * SMALL_C + 100, 7);
const object = await encryptToBuffer(plaintext, holders, { chunkLog2: SMALL_LOG2 });
const parts = splitObject(object);
const size = sealedSize(SMALL_LOG2);

void test('the multi-chunk object is what the other tests assume', () => {
  assert.equal(parts.chunks.length, CHUNKS);
  assert.ok(parts.chunks.slice(0, -1).every((chunk) => chunk.length === size));
  assert.equal(parts.chunks.at(-1)?.length, 100 + 16);
});

/** Decrypts expecting ERR_DECRYPTION_FAILED; what was released must be authentic and end before `before`. */
async function expectPayloadFailure(bytes: Buffer, before: number, what: string): Promise<void> {
  const outcome = await decryptOutcome(bytes, holders);
  assertDkeError(outcome.error, 'ERR_DECRYPTION_FAILED');
  assert.ok(
    outcome.released.equals(plaintext.subarray(0, outcome.released.length)),
    `${what}: released bytes are not the plaintext`,
  );
  assert.ok(
    outcome.released.length <= before,
    `${what}: released ${outcome.released.length} bytes, more than ${before}`,
  );
}

void test('a flipped bit in any chunk (ciphertext or tag) fails that chunk; nothing from it or later is released', async () => {
  for (let i = 0; i < CHUNKS; i++) {
    const start = parts.headerBytes.length + i * size;
    const length = (parts.chunks[i] as Buffer).length;
    for (const at of [0, length >> 1, length - 17, length - 16, length - 1]) {
      await expectPayloadFailure(
        flipBit(object, start + at, (i + at) % 8),
        i * SMALL_C,
        `chunk ${i} byte ${at}`,
      );
    }
  }
});

void test('truncation at every chunk boundary and between boundaries fails', async () => {
  const headerLength = parts.headerBytes.length;
  for (let k = 0; k < CHUNKS; k++) {
    const boundary = headerLength + k * size;
    for (const delta of [-17, -16, -15, -1, 0, 1, 15, 16, 17, size >> 1]) {
      const cut = boundary + delta;
      if (cut < headerLength || cut >= object.length) continue;
      // Chunks wholly before the cut may be released; the chunk the cut is in (now the last) may not.
      const intact = Math.floor((cut - headerLength) / size);
      await expectPayloadFailure(object.subarray(0, cut), intact * SMALL_C, `cut at ${cut}`);
    }
  }
  await expectPayloadFailure(
    object.subarray(0, object.length - 1),
    (CHUNKS - 1) * SMALL_C,
    'last byte removed',
  );
});

void test('truncation inside the header is ERR_FORMAT_MALFORMED', async () => {
  for (const cut of [0, 1, 7, 8, 25, 26, 100, parts.headerBytes.length - 64, parts.headerBytes.length - 1]) {
    await expectDecryptError(object.subarray(0, cut), holders, 'ERR_FORMAT_MALFORMED', { noPlaintext: true });
  }
});

void test('swapped, duplicated, dropped and reversed chunks fail', async () => {
  const { headerBytes, chunks } = parts;
  const swap = (i: number, j: number): Buffer[] => {
    const copy = [...chunks];
    [copy[i], copy[j]] = [copy[j] as Buffer, copy[i] as Buffer];
    return copy;
  };
  const cases: [string, Buffer[], number][] = [];
  for (const [i, j] of [
    [0, 1],
    [5, 6],
    [14, 15],
    [15, 16], // across the batch boundary
    [16, 17],
    [0, 19],
  ] as const) {
    cases.push([`swap ${i},${j}`, swap(i, j), i * SMALL_C]);
  }
  for (const i of [0, 7, 15, 16, 19, 20]) {
    cases.push([
      `duplicate ${i}`,
      [...chunks.slice(0, i + 1), chunks[i] as Buffer, ...chunks.slice(i + 1)],
      (i + 1) * SMALL_C,
    ]);
    cases.push([`drop ${i}`, [...chunks.slice(0, i), ...chunks.slice(i + 1)], i * SMALL_C]);
  }
  cases.push(['reversed', [...chunks].reverse(), 0]);
  cases.push(['last chunk moved first', [chunks.at(-1) as Buffer, ...chunks.slice(0, -1)], 0]);
  for (const [what, reordered, before] of cases) {
    await expectPayloadFailure(joinObject(headerBytes, reordered), before, what);
  }
});

void test('data appended after the last chunk fails, whether the last chunk is partial or full', async () => {
  const whole = (CHUNKS - 1) * SMALL_C;
  for (const extra of [
    Buffer.alloc(1),
    Buffer.alloc(16),
    Buffer.alloc(17),
    parts.chunks.at(-1) as Buffer,
    Buffer.alloc(size),
  ]) {
    await expectPayloadFailure(Buffer.concat([object, extra]), whole, `${extra.length} bytes appended`);
  }
  // The last chunk full (plaintext a multiple of the chunk size).
  const full = patternBytes(2 * SMALL_C, 3);
  const fullObject = await encryptToBuffer(full, holders, { chunkLog2: SMALL_LOG2 });
  assert.equal(splitObject(fullObject).chunks.length, 2, 'no extra empty chunk after a full last chunk');
  for (const extra of [Buffer.alloc(1), Buffer.alloc(16), Buffer.alloc(size)]) {
    const outcome = await decryptOutcome(Buffer.concat([fullObject, extra]), holders);
    assertDkeError(outcome.error, 'ERR_DECRYPTION_FAILED');
    assert.ok(outcome.released.length <= SMALL_C);
  }
  // Dropping the full last chunk leaves a full non-last chunk at the end.
  const dropped = fullObject.subarray(0, fullObject.length - size);
  await expectDecryptError(dropped, holders, 'ERR_DECRYPTION_FAILED');
});

void test('the empty object: its single empty chunk cannot be dropped or extended', async () => {
  const empty = await encryptToBuffer(Buffer.alloc(0), holders);
  const { headerBytes, chunks } = splitObject(empty);
  assert.deepEqual(
    chunks.map((chunk) => chunk.length),
    [16],
  );
  await expectDecryptError(headerBytes, holders, 'ERR_DECRYPTION_FAILED', { noPlaintext: true });
  await expectDecryptError(Buffer.concat([empty, Buffer.alloc(1)]), holders, 'ERR_DECRYPTION_FAILED', {
    noPlaintext: true,
  });
  await expectDecryptError(Buffer.concat([empty, chunks[0] as Buffer]), holders, 'ERR_DECRYPTION_FAILED', {
    noPlaintext: true,
  });
  await expectDecryptError(flipBit(empty, empty.length - 1), holders, 'ERR_DECRYPTION_FAILED', {
    noPlaintext: true,
  });
});

void test("one holder's key missing: ERR_HOLDER_KEY_MISSING naming exactly that holder", async () => {
  const small = await encryptToBuffer(Buffer.from('x'), holders);
  let error = await expectDecryptError(small, [holderA], 'ERR_HOLDER_KEY_MISSING', {
    mentions: [holderB.keyId],
    noPlaintext: true,
  });
  assert.ok(!error.message.includes(holderA.keyId), 'the holder whose key is present is not named');
  error = await expectDecryptError(small, [holderB], 'ERR_HOLDER_KEY_MISSING', {
    mentions: [holderA.keyId],
    noPlaintext: true,
  });
  assert.ok(!error.message.includes(holderB.keyId));
  // All missing holders at once, and a key of some third holder does not help.
  const [stranger] = ecKeys('P-256', 3).slice(2);
  await expectDecryptError(small, [await LocalKeyHolder.fromKey(stranger!)], 'ERR_HOLDER_KEY_MISSING', {
    mentions: [holderA.keyId, holderB.keyId],
    noPlaintext: true,
  });
  // A public key alone cannot unwrap.
  const publicOnly = await LocalKeyHolder.fromKey(createPublicKey(ecKeys('P-256', 2)[1]!));
  await expectDecryptError(small, [holderA, publicOnly], 'ERR_HOLDER_KEY_MISSING', {
    mentions: [holderB.keyId],
  });
});

void test("a wrong key under the holder's key id: ERR_HOLDER_UNWRAP_FAILED naming the holder", async () => {
  const [, , wrong] = ecKeys('P-256', 3);
  // Holder B's stanza (type, kid, JWE kid and oid all right) but the share wrapped to another key.
  const forged = new ForgedHolder('local', holderB.keyId, '', wrong!);
  const bytes = await encryptToBuffer(Buffer.from('secret'), [holderA, forged]);
  await expectDecryptError(bytes, holders, 'ERR_HOLDER_UNWRAP_FAILED', {
    mentions: [holderB.keyId],
    noPlaintext: true,
  });
});

void test('a stanza spliced in from another object: ERR_HOLDER_BINDING_MISMATCH naming the holder', async () => {
  const donor = splitObject(await encryptToBuffer(Buffer.from('other'), holders));
  const small = await encryptToBuffer(Buffer.from('x'), holders);
  const target = splitObject(small);
  for (const i of [0, 1]) {
    const stanzas = [...target.header.stanzas];
    stanzas[i] = donor.header.stanzas[i]!;
    const header = replaceStanzas(target.headerBytes, stanzas);
    await expectDecryptError(joinObject(header, target.chunks), holders, 'ERR_HOLDER_BINDING_MISMATCH', {
      mentions: [holders[i]!.keyId],
      noPlaintext: true,
    });
  }
  // The whole header of another object with this object's payload: authentic header, wrong payload key.
  await expectDecryptError(joinObject(donor.headerBytes, target.chunks), holders, 'ERR_DECRYPTION_FAILED', {
    noPlaintext: true,
  });
});

void test('holder order is authenticated: swapping two stanzas fails the key commitment', async () => {
  const small = splitObject(await encryptToBuffer(Buffer.from('x'), holders));
  const swapped = replaceStanzas(small.headerBytes, [...small.header.stanzas].reverse());
  await expectDecryptError(joinObject(swapped, small.chunks), holders, 'ERR_DECRYPTION_FAILED', {
    noPlaintext: true,
  });
});

void test('a remote locator is authenticated by the header MAC; a local failure never reaches the remote holder', async () => {
  const [, , remoteKey] = ecKeys('P-256', 3);
  const inner = await LocalKeyHolder.fromKey(remoteKey!);
  const spy = new SpyRemoteHolder(inner.keyId, 'https://keys.example/keys/customer', inner);
  const bytes = await encryptToBuffer(Buffer.from('remote'), [holderA, spy]);
  // Untampered: the remote holder is asked once.
  const ok = await decryptOutcome(bytes, [holderA], {
    resolveHolder: (s) => (spy.canUnwrap(s) ? spy : undefined),
  });
  assert.equal(ok.error, undefined);
  assert.equal(ok.released.toString(), 'remote');
  assert.equal(spy.calls, 1);

  // Locator moved to another (equally trusted) URL of the same length: unwrap succeeds, the MAC does not.
  const { header, headerBytes, chunks } = splitObject(bytes);
  const moved = header.stanzas.map((s) =>
    s.type === 'remote' ? { ...s, locator: 'https://keys.example/keys/attacker' } : s,
  );
  const other = new SpyRemoteHolder(inner.keyId, 'https://keys.example/keys/attacker', inner);
  await expectDecryptError(
    joinObject(replaceStanzas(headerBytes, moved), chunks),
    [holderA],
    'ERR_DECRYPTION_FAILED',
    {
      decrypt: { resolveHolder: (s) => (other.canUnwrap(s) ? other : undefined) },
      noPlaintext: true,
    },
  );

  // Holder A's share cannot be unwrapped (wrong key): the remote holder is never asked.
  spy.calls = 0;
  const forged = new ForgedHolder('local', holderA.keyId, '', remoteKey!);
  const bad = await encryptToBuffer(Buffer.from('remote'), [spy, forged]);
  await expectDecryptError(bad, [holderA], 'ERR_HOLDER_UNWRAP_FAILED', {
    mentions: [holderA.keyId],
    decrypt: { resolveHolder: (s) => (spy.canUnwrap(s) ? spy : undefined) },
  });
  assert.equal(spy.calls, 0, 'local holders are unwrapped first');

  // Without a trusted key service the remote holder is missing, named with its locator.
  await expectDecryptError(bytes, [holderA], 'ERR_HOLDER_KEY_MISSING', {
    mentions: [inner.keyId, 'https://keys.example/keys/customer'],
  });
});
