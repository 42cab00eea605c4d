/**
 * The writer against the spec: objects made by the library's encrypt() are decoded here by an independent
 * reader written from docs/format.md alone (own parser, jose for the JWE, node:crypto for HKDF, HMAC and
 * AES-GCM). It checks every field and rule a writer must follow, including fresh object ids and shares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHmac, hkdfSync, type KeyObject } from 'node:crypto';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { keyIdOf } from '../../src/crypto/holder-keys.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';
import {
  assertDkeError,
  C,
  SpyRemoteHolder,
  ecKeys,
  encryptToBuffer,
  loadVector,
  localHolders,
  patternBytes,
  privateKeyFromPkcs8,
  vectorKey,
} from '../support/format-helpers.js';

interface Decoded {
  objectId: Buffer;
  chunkLog2: number;
  stanzas: { type: string; kid: string; locator: string; body: string }[];
  shares: Buffer[];
  chunkPlaintextLengths: number[];
  plaintext: Buffer;
}

/** docs/format.md §3-7, independently. `keys` maps key id → private key. */
async function specDecode(object: Buffer, keys: ReadonlyMap<string, KeyObject>): Promise<Decoded> {
  let at = 0;
  const take = (n: number): Buffer => {
    assert.ok(at + n <= object.length, 'object ends early');
    const out = object.subarray(at, at + n);
    at += n;
    return out;
  };
  assert.equal(take(7).toString('latin1'), 'OpenDKE', 'magic');
  assert.equal(take(1)[0], 1, 'version');
  const objectId = Buffer.from(take(16));
  const chunkLog2 = take(1)[0] as number;
  assert.ok(chunkLog2 >= 12 && chunkLog2 <= 24, 'chunk_log2');
  const count = take(1)[0] as number;
  assert.ok(count >= 2 && count <= 16, 'holder_count');
  const stanzas: Decoded['stanzas'] = [];
  for (let i = 0; i < count; i++) {
    const type = take(take(1)[0] as number).toString('latin1');
    const kid = take(take(1)[0] as number).toString('latin1');
    const locator = take(take(2).readUInt16BE(0)).toString('utf8');
    const body = take(take(2).readUInt16BE(0)).toString('latin1');
    assert.match(type, /^[a-z0-9-]{1,32}$/);
    assert.match(kid, /^[A-Za-z0-9_-]{1,128}$/);
    assert.match(body, /^[A-Za-z0-9_.-]{1,4096}$/);
    if (type === 'local') assert.equal(locator, '', 'a local stanza has an empty locator (§4.3)');
    assert.ok(!stanzas.some((earlier) => earlier.kid === kid), 'no holder key twice (§3)');
    stanzas.push({ type, kid, locator, body });
  }
  const commitment = Buffer.from(take(32));
  const authenticatedEnd = at;
  const mac = Buffer.from(take(32));

  const shares: Buffer[] = [];
  for (const stanza of stanzas) {
    const parts = stanza.body.split('.');
    assert.equal(parts.length, 5, 'a compact JWE (§4.2)');
    // No repeated member names (§4.2): the text must be exactly JSON.stringify of what it parses to, which
    // holds for OpenDKE's writer (jose serializes with JSON.stringify) and fails whenever a name repeats.
    const headerText = Buffer.from(parts[0] as string, 'base64url').toString('utf8');
    assert.equal(
      JSON.stringify(JSON.parse(headerText)),
      headerText,
      'protected header without repeated members',
    );
    const protectedHeader = decodeProtectedHeader(stanza.body) as Record<string, unknown>;
    assert.ok(!('zip' in protectedHeader), 'no zip member (§4.2)');
    assert.equal(protectedHeader.typ, 'opendke-share');
    assert.equal(protectedHeader.enc, 'A256GCM');
    assert.equal(protectedHeader.kid, stanza.kid, 'JWE kid = stanza kid');
    assert.equal(protectedHeader.oid, objectId.toString('base64url'), 'JWE oid = object id');
    assert.equal(protectedHeader.crit, undefined);
    const key = keys.get(stanza.kid);
    assert.ok(key, `a key for ${stanza.kid}`);
    assert.equal(protectedHeader.alg, key.asymmetricKeyType === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW');
    const { plaintext } = await compactDecrypt(stanza.body, key);
    assert.equal(plaintext.length, 32, 'share is 32 bytes');
    shares.push(Buffer.from(plaintext));
  }
  const hkdf = (ikm: Buffer, info: string): Buffer =>
    Buffer.from(hkdfSync('sha256', ikm, objectId, Buffer.from(info), 32));
  const contentKey = hkdf(Buffer.concat(shares), 'OpenDKE v1 content key');
  const payloadKey = hkdf(contentKey, 'OpenDKE v1 payload key');
  const macKey = hkdf(contentKey, 'OpenDKE v1 header MAC key');
  assert.ok(hkdf(contentKey, 'OpenDKE v1 key commitment').equals(commitment), 'commitment');
  assert.ok(
    createHmac('sha256', macKey).update(object.subarray(0, authenticatedEnd)).digest().equals(mac),
    'mac',
  );

  const size = 2 ** chunkLog2 + 16;
  const plaintexts: Buffer[] = [];
  for (let index = 0; at < object.length; index++) {
    const sealed = object.subarray(at, Math.min(at + size, object.length));
    at += sealed.length;
    const last = at === object.length;
    assert.ok(last || sealed.length === size, 'every chunk but the last is full');
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(index, 5, 6);
    nonce[11] = last ? 1 : 0;
    const decipher = createDecipheriv('aes-256-gcm', payloadKey, nonce);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    plaintexts.push(
      Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]),
    );
  }
  assert.ok(plaintexts.length >= 1, 'at least one chunk');
  const lengths = plaintexts.map((p) => p.length);
  assert.ok(
    lengths.length === 1 || (lengths.at(-1) as number) > 0,
    'an empty last chunk only for the empty object',
  );
  return {
    objectId,
    chunkLog2,
    stanzas,
    shares,
    chunkPlaintextLengths: lengths,
    plaintext: Buffer.concat(plaintexts),
  };
}

async function keyMap(
  holders: readonly { keyId: string }[],
  keys: readonly KeyObject[],
): Promise<Map<string, KeyObject>> {
  const map = new Map<string, KeyObject>();
  for (const key of keys) map.set(await keyIdOf(key), key);
  for (const holder of holders) assert.ok(map.has(holder.keyId));
  return map;
}

const holders = await localHolders(2);
const keys = await keyMap(holders, ecKeys('P-256', 2));

void test('encrypt() writes exactly the format: default chunk size, holder order, chunk layout', async () => {
  for (const length of [0, 1, C - 1, C, C + 1, 3 * C + 5]) {
    const plaintext = patternBytes(length, length);
    const decoded = await specDecode(await encryptToBuffer(plaintext, holders), keys);
    assert.ok(decoded.plaintext.equals(plaintext), `size ${length}`);
    assert.equal(decoded.chunkLog2, 20);
    assert.deepEqual(
      decoded.stanzas.map((s) => [s.type, s.kid, s.locator]),
      holders.map((h) => ['local', h.keyId, '']),
    );
    const expectedChunks = Math.max(1, Math.ceil(length / C));
    assert.equal(decoded.chunkPlaintextLengths.length, expectedChunks, `chunks for ${length} bytes`);
    assert.ok(decoded.chunkPlaintextLengths.slice(0, -1).every((l) => l === C));
  }
});

void test('encrypt() with chunkLog2 12 and 24, and the RSA-3072 + P-384 and three-holder cases', async () => {
  const small = await specDecode(
    await encryptToBuffer(patternBytes(3 * 4096 + 1), holders, { chunkLog2: 12 }),
    keys,
  );
  assert.equal(small.chunkLog2, 12);
  assert.deepEqual(small.chunkPlaintextLengths, [4096, 4096, 4096, 1]);
  const big = await specDecode(await encryptToBuffer(patternBytes(100), holders, { chunkLog2: 24 }), keys);
  assert.equal(big.chunkLog2, 24);

  const rsa = vectorKey('valid-rsa3072-p384', 'RSA-3072');
  const [p384] = ecKeys('P-384', 1);
  const [p521] = ecKeys('P-521', 1);
  const mixed = await Promise.all([rsa, p384!, p521!].map((key) => LocalKeyHolder.fromKey(key)));
  const mixedKeys = await keyMap(mixed, [rsa, p384!, p521!]);
  const plaintext = patternBytes(5000);
  const decoded = await specDecode(await encryptToBuffer(plaintext, mixed, { chunkLog2: 12 }), mixedKeys);
  assert.ok(decoded.plaintext.equals(plaintext));
  assert.deepEqual(
    decoded.stanzas.map((s) => (decodeProtectedHeader(s.body) as { alg: string }).alg),
    ['RSA-OAEP-256', 'ECDH-ES+A256KW', 'ECDH-ES+A256KW'],
  );
});

void test('every object gets a fresh object id and fresh shares', async () => {
  const plaintext = Buffer.from('same plaintext');
  const seenIds = new Set<string>();
  const seenShares = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const decoded = await specDecode(await encryptToBuffer(plaintext, holders), keys);
    seenIds.add(decoded.objectId.toString('hex'));
    for (const share of decoded.shares) seenShares.add(share.toString('hex'));
  }
  assert.equal(seenIds.size, 5);
  assert.equal(seenShares.size, 10);
});

void test('writers refuse what the format forbids', async () => {
  const fails = async (
    promise: Promise<unknown>,
    code: Parameters<typeof assertDkeError>[1],
  ): Promise<void> => {
    let thrown: unknown;
    try {
      await promise;
    } catch (error) {
      thrown = error;
    }
    assertDkeError(thrown, code);
  };
  const data = Buffer.from('x');
  await fails(encryptToBuffer(data, holders.slice(0, 1)), 'ERR_TOO_FEW_HOLDERS');
  await fails(encryptToBuffer(data, []), 'ERR_TOO_FEW_HOLDERS');
  await fails(encryptToBuffer(data, [holders[0]!, holders[0]!]), 'ERR_USAGE');
  // The same key as a local and as a remote holder is still the same holder key.
  const sameKeyRemote = new SpyRemoteHolder(holders[0]!.keyId, 'https://kms.example/keys/a', holders[0]!);
  await fails(encryptToBuffer(data, [holders[0]!, sameKeyRemote]), 'ERR_USAGE');
  const seventeen: LocalKeyHolder[] = await localHolders(17);
  await fails(encryptToBuffer(data, seventeen), 'ERR_USAGE');
  for (const chunkLog2 of [11, 25, 16.5])
    await fails(encryptToBuffer(data, holders, { chunkLog2 }), 'ERR_USAGE');
  // Sixteen holders is the maximum and works.
  const sixteen = seventeen.slice(0, 16);
  const decoded = await specDecode(
    await encryptToBuffer(data, sixteen),
    await keyMap(sixteen, ecKeys('P-256', 16)),
  );
  assert.equal(decoded.stanzas.length, 16);
});

void test('the independent reader agrees with the vectors on the header and share rules', async () => {
  const outcome = async (name: string): Promise<unknown> => {
    const vector = loadVector(name);
    const vectorKeys = new Map(vector.keys.map((key) => [key.kid, privateKeyFromPkcs8(key.pkcs8)]));
    try {
      await specDecode(Buffer.from(vector.ciphertext, 'base64'), vectorKeys);
    } catch (error) {
      return error;
    }
    return undefined;
  };
  for (const name of ['valid-three-holders', 'valid-rsa3072-p384'])
    assert.equal(await outcome(name), undefined, `${name} decodes`);
  const rules: [string, RegExp][] = [
    ['fail-local-locator', /empty locator/],
    ['fail-duplicate-holder-key', /no holder key twice/],
    ['fail-jwe-zip', /no zip/],
    ['fail-jwe-duplicate-member', /repeated members/],
    ['fail-body-not-jwe', /compact JWE/],
  ];
  for (const [name, rule] of rules) {
    const error = await outcome(name);
    assert.ok(error instanceof assert.AssertionError, `${name} is refused`);
    assert.match(error.message, rule, name);
  }
});
