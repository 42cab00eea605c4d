/**
 * The building blocks against their specification (docs/format.md §4-6), each checked against an
 * independent computation with node:crypto: key ids (RFC 7638), the share JWE and its binding checks,
 * the key schedule (HKDF labels, every share counts), the header MAC and the chunk nonce and AEAD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createCipheriv,
  createHash,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { CompactEncrypt, decodeProtectedHeader } from 'jose';
import { keyIdOf, wrapAlgFor } from '../../src/crypto/holder-keys.js';
import { chunkNonce, openChunkInto } from '../../src/format/chunk-cipher.js';
import { deriveObjectKeys, headerMac, verifyHeaderKeys } from '../../src/format/key-schedule.js';
import { readShareHeader, unwrapShare, wrapShare } from '../../src/format/share-jwe.js';
import type { ErrorCode } from '../../src/errors/index.js';
import { assertDkeError, ecKeys, vectorKey } from '../support/format-helpers.js';

async function rejects(promise: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  let thrown: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    thrown = error;
  }
  assertDkeError(thrown, code);
}

const [keyA, keyB] = ecKeys('P-256', 2) as [
  ReturnType<typeof ecKeys>[number],
  ReturnType<typeof ecKeys>[number],
];
const rsa = vectorKey('valid-rsa3072-p384', 'RSA-3072');
const objectId = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

void test('key id: the RFC 7638 SHA-256 thumbprint of the public key', async () => {
  const ec = createPublicKey(keyA).export({ format: 'jwk' });
  const ecInput = `{"crv":"${ec.crv}","kty":"EC","x":"${ec.x}","y":"${ec.y}"}`;
  assert.equal(await keyIdOf(keyA), createHash('sha256').update(ecInput).digest('base64url'));
  assert.equal(await keyIdOf(createPublicKey(keyA)), await keyIdOf(keyA), 'same id from the public half');
  const r = createPublicKey(rsa).export({ format: 'jwk' });
  const rsaInput = `{"e":"${r.e}","kty":"RSA","n":"${r.n}"}`;
  assert.equal(await keyIdOf(rsa), createHash('sha256').update(rsaInput).digest('base64url'));
  assert.match(await keyIdOf(rsa), /^[A-Za-z0-9_-]{43}$/);
});

void test('holder key policy: RSA >= 3072 and NIST P-256/384/521 only', () => {
  assert.equal(wrapAlgFor(rsa), 'RSA-OAEP-256');
  for (const curve of ['P-256', 'P-384', 'P-521'] as const)
    assert.equal(wrapAlgFor(ecKeys(curve, 1)[0]!), 'ECDH-ES+A256KW');
  const refuse = (key: Parameters<typeof wrapAlgFor>[0], code: ErrorCode): void => {
    let thrown: unknown;
    try {
      wrapAlgFor(key);
    } catch (error) {
      thrown = error;
    }
    assertDkeError(thrown, code);
  };
  refuse(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'ERR_KEY_TOO_WEAK');
  refuse(generateKeyPairSync('ed25519').privateKey, 'ERR_KEY_INVALID');
  refuse(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, 'ERR_KEY_INVALID');
});

void test('the share JWE: protected header members of §4.2 and a 32-byte plaintext', async () => {
  const share = randomBytes(32);
  const kid = await keyIdOf(keyA);
  const jwe = await wrapShare(share, createPublicKey(keyA), { objectId, keyId: kid });
  assert.equal(jwe.split('.').length, 5);
  const header = decodeProtectedHeader(jwe) as Record<string, unknown>;
  assert.equal(header.alg, 'ECDH-ES+A256KW');
  assert.equal(header.enc, 'A256GCM');
  assert.equal(header.typ, 'opendke-share');
  assert.equal(header.kid, kid);
  assert.equal(header.oid, objectId.toString('base64url'));
  assert.equal(header.crit, undefined);
  assert.deepEqual(readShareHeader(jwe), { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid, objectId });
  const { share: unwrapped } = await unwrapShare(jwe, keyA, { keyId: kid, objectId });
  assert.ok(unwrapped.equals(share));

  const rsaKid = await keyIdOf(rsa);
  const rsaJwe = await wrapShare(share, createPublicKey(rsa), { objectId, keyId: rsaKid });
  assert.equal((decodeProtectedHeader(rsaJwe) as Record<string, unknown>).alg, 'RSA-OAEP-256');
  assert.ok((await unwrapShare(rsaJwe, rsa, { keyId: rsaKid, objectId })).share.equals(share));

  await rejects(wrapShare(randomBytes(31), createPublicKey(keyA), { objectId, keyId: kid }), 'ERR_INTERNAL');
});

void test('unwrapShare: a binding that differs from the stanza, a wrong key, a wrong key type', async () => {
  const share = randomBytes(32);
  const kid = await keyIdOf(keyA);
  const jwe = await wrapShare(share, createPublicKey(keyA), { objectId, keyId: kid });
  await rejects(
    unwrapShare(jwe, keyA, { keyId: await keyIdOf(keyB), objectId }),
    'ERR_HOLDER_BINDING_MISMATCH',
  );
  await rejects(
    unwrapShare(jwe, keyA, { keyId: kid, objectId: randomBytes(16) }),
    'ERR_HOLDER_BINDING_MISMATCH',
  );
  await rejects(unwrapShare(jwe, keyB, { keyId: kid, objectId }), 'ERR_HOLDER_UNWRAP_FAILED');
  await rejects(unwrapShare(jwe, rsa), 'ERR_HOLDER_UNWRAP_FAILED'); // ECDH JWE, RSA key
  await rejects(unwrapShare(jwe, ecKeys('P-384', 1)[0]!), 'ERR_HOLDER_UNWRAP_FAILED'); // other curve
  // Each compact part damaged.
  const parts = jwe.split('.');
  for (let i = 1; i < 5; i++) {
    const damaged = [...parts];
    const part = damaged[i] as string;
    damaged[i] = `${part.slice(0, 2)}${part[2] === 'A' ? 'B' : 'A'}${part.slice(3)}`;
    await rejects(unwrapShare(damaged.join('.'), keyA), 'ERR_HOLDER_UNWRAP_FAILED');
  }
});

/** A JWE to keyA with any protected header and plaintext (jose, bypassing wrapShare's checks). */
async function handMade(
  protectedHeader: Record<string, unknown>,
  plaintext: Uint8Array = randomBytes(32),
  crit?: Record<string, boolean>,
): Promise<string> {
  return new CompactEncrypt(plaintext)
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', ...protectedHeader })
    .encrypt(createPublicKey(keyA), crit === undefined ? undefined : { crit });
}

void test('readShareHeader refuses every protected header §4.2 does not allow', async () => {
  const kid = await keyIdOf(keyA);
  const good = { typ: 'opendke-share', kid, oid: objectId.toString('base64url') };
  assert.equal(readShareHeader(await handMade(good)).kid, kid);
  assert.equal(
    readShareHeader(await handMade({ ...good, extra: 'ignored' })).kid,
    kid,
    'unknown members are ignored',
  );
  const bad: Record<string, unknown>[] = [
    { ...good, typ: undefined },
    { ...good, typ: 'JWT' },
    { ...good, enc: 'A128GCM' },
    { ...good, kid: undefined },
    { ...good, kid: '' },
    { ...good, kid: 7 },
    { ...good, oid: undefined },
    { ...good, oid: randomBytes(15).toString('base64url') },
    { ...good, oid: randomBytes(17).toString('base64url') },
    { ...good, oid: `${objectId.toString('base64url')}=` },
    { ...good, oid: objectId.toString('base64').replace(/=+$/, '').replace(/_/g, '/') + '+' },
  ];
  for (const header of bad) {
    const jwe = await handMade(header);
    await rejects(() => readShareHeader(jwe), 'ERR_HOLDER_BINDING_MISMATCH');
  }
  const other = await new CompactEncrypt(randomBytes(32))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', ...good })
    .encrypt(createPublicKey(keyA));
  await rejects(() => readShareHeader(other), 'ERR_HOLDER_BINDING_MISMATCH');
  const rsaOaep = await new CompactEncrypt(randomBytes(32))
    .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM', ...good })
    .encrypt(createPublicKey(rsa));
  await rejects(() => readShareHeader(rsaOaep), 'ERR_HOLDER_BINDING_MISMATCH');
  for (const shape of ['a.b.c.d', 'a.b.c.d.e.f', '', '....', 'x'.repeat(4097)]) {
    await rejects(() => readShareHeader(shape), 'ERR_HOLDER_BINDING_MISMATCH');
  }
  const unreadable = `${Buffer.from('{not json').toString('base64url')}.a.b.c.d`;
  await rejects(() => readShareHeader(unreadable), 'ERR_HOLDER_BINDING_MISMATCH');
});

void test('unwrapShare refuses a share that is not 32 bytes, and a crit member', async () => {
  const kid = await keyIdOf(keyA);
  const good = { typ: 'opendke-share', kid, oid: objectId.toString('base64url') };
  for (const length of [0, 16, 31, 33, 64]) {
    await rejects(
      unwrapShare(await handMade(good, randomBytes(length)), keyA, { keyId: kid, objectId }),
      'ERR_HOLDER_UNWRAP_FAILED',
    );
  }
  // §4.2: crit MUST be absent (a critical extension this reader cannot know changes the meaning).
  const crit = await handMade({ ...good, crit: ['x-ext'], 'x-ext': 1 }, randomBytes(32), { 'x-ext': true });
  assert.deepEqual((decodeProtectedHeader(crit) as Record<string, unknown>).crit, ['x-ext']);
  // Refused at the binding check (§7 step 4), before any key is used.
  assert.throws(() => readShareHeader(crit), { code: 'ERR_HOLDER_BINDING_MISMATCH' });
  await rejects(unwrapShare(crit, keyA, { keyId: kid, objectId }), 'ERR_HOLDER_BINDING_MISMATCH');
});

const hkdf = (ikm: Buffer, salt: Buffer, info: string): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'ascii'), 32));

void test('key schedule: HKDF-SHA-256 with the §5 labels, salt = object id, over all shares in order', () => {
  const shares = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const content = hkdf(Buffer.concat(shares), objectId, 'OpenDKE v1 content key');
  const keys = deriveObjectKeys(shares, objectId);
  assert.ok(keys.payloadKey.equals(hkdf(content, objectId, 'OpenDKE v1 payload key')));
  assert.ok(keys.macKey.equals(hkdf(content, objectId, 'OpenDKE v1 header MAC key')));
  assert.ok(keys.commitment.equals(hkdf(content, objectId, 'OpenDKE v1 key commitment')));
  assert.equal(
    new Set([keys.payloadKey, keys.macKey, keys.commitment].map((k) => k.toString('hex'))).size,
    3,
  );

  // Every share, every byte of it, and their order matter; so does the object id.
  const differs = (other: { commitment: Buffer }): boolean => !other.commitment.equals(keys.commitment);
  for (let i = 0; i < shares.length; i++) {
    const changed = shares.map((s, j) =>
      j === i ? Buffer.concat([s.subarray(0, 31), Buffer.from([s[31]! ^ 1])]) : s,
    );
    assert.ok(differs(deriveObjectKeys(changed, objectId)), `share ${i}`);
  }
  assert.ok(differs(deriveObjectKeys([shares[1]!, shares[0]!, shares[2]!], objectId)), 'order');
  assert.ok(differs(deriveObjectKeys(shares.slice(0, 2), objectId)), 'fewer shares');
  assert.ok(differs(deriveObjectKeys(shares, randomBytes(16))), 'object id');
  assert.throws(
    () => deriveObjectKeys([randomBytes(32), randomBytes(31)], objectId),
    (e: unknown) => {
      assertDkeError(e, 'ERR_INTERNAL');
      return true;
    },
  );
});

void test('header MAC is HMAC-SHA-256; verifyHeaderKeys fails a wrong commitment or MAC with ERR_DECRYPTION_FAILED', () => {
  const keys = deriveObjectKeys([randomBytes(32), randomBytes(32)], objectId);
  const bytes = randomBytes(300);
  const mac = headerMac(keys.macKey, bytes);
  assert.ok(mac.equals(createHmac('sha256', keys.macKey).update(bytes).digest()));
  verifyHeaderKeys(keys, keys.commitment, bytes, mac);
  const flip = (b: Buffer, i: number): Buffer => {
    const copy = Buffer.from(b);
    copy[i] = (copy[i] as number) ^ 0x80;
    return copy;
  };
  for (const [commitment, authenticated, tag] of [
    [flip(keys.commitment, 0), bytes, mac],
    [flip(keys.commitment, 31), bytes, mac],
    [keys.commitment, flip(bytes, 150), mac],
    [keys.commitment, bytes, flip(mac, 0)],
    [keys.commitment, bytes, flip(mac, 31)],
  ] as const) {
    assert.throws(
      () => verifyHeaderKeys(keys, commitment, authenticated, tag),
      (e: unknown) => {
        assertDkeError(e, 'ERR_DECRYPTION_FAILED');
        return true;
      },
    );
  }
});

void test('chunk nonce: 11-byte big-endian index then the last-chunk flag', () => {
  assert.equal(chunkNonce(0, false).toString('hex'), '000000000000000000000000');
  assert.equal(chunkNonce(0, true).toString('hex'), '000000000000000000000001');
  assert.equal(chunkNonce(1, false).toString('hex'), '000000000000000000000100');
  assert.equal(chunkNonce(0x1234, true).toString('hex'), '000000000000000000123401');
  assert.equal(chunkNonce(2 ** 32, false).toString('hex'), '000000000000010000000000');
  assert.equal(chunkNonce(2 ** 53 - 1, true).toString('hex'), '000000001fffffffffffff01');
  for (const bad of [-1, 0.5, 2 ** 53, Number.NaN]) {
    assert.throws(
      () => chunkNonce(bad, false),
      (e: unknown) => {
        assertDkeError(e, 'ERR_DECRYPTION_FAILED');
        return true;
      },
    );
  }
});

void test('openChunkInto opens exactly AES-256-GCM(payload key, nonce(i, last)) with no AAD; anything else fails and writes nothing', () => {
  const key = randomBytes(32);
  const seal = (index: number, last: boolean, plaintext: Buffer): Buffer => {
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(index, 5, 6);
    nonce[11] = last ? 1 : 0;
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  };
  const plaintext = randomBytes(1000);
  const sealed = seal(7, false, plaintext);
  const target = Buffer.alloc(1000);
  assert.equal(openChunkInto(key, 7, false, sealed, target), 1000);
  assert.ok(target.equals(plaintext));
  assert.equal(openChunkInto(key, 0, true, seal(0, true, Buffer.alloc(0)), target), 0);
  const fails = (k: Buffer, index: number, last: boolean, data: Buffer): void => {
    const untouched = Buffer.alloc(2000, 0x5a);
    assert.throws(
      () => openChunkInto(k, index, last, data, untouched),
      (e: unknown) => {
        assertDkeError(e, 'ERR_DECRYPTION_FAILED');
        return true;
      },
    );
    assert.ok(untouched.equals(Buffer.alloc(2000, 0x5a)), 'nothing unauthenticated written');
  };
  fails(key, 8, false, sealed);
  fails(key, 7, true, sealed);
  fails(randomBytes(32), 7, false, sealed);
  fails(key, 7, false, sealed.subarray(0, sealed.length - 1));
  fails(key, 7, false, Buffer.concat([sealed, Buffer.alloc(1)]));
  fails(key, 7, false, sealed.subarray(0, 15));
  const flipped = Buffer.from(sealed);
  flipped[0] = (flipped[0] as number) ^ 1;
  fails(key, 7, false, flipped);
});
