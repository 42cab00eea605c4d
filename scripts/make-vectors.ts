/**
 * Generates the known-answer vectors in testdata/vectors/ (docs/format.md §9, schema in
 * testdata/vectors/README.md). The vectors are committed; tests only read them. Regenerate only when the
 * format changes (which means a new format version), then commit the new files:
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/make-vectors.js [output directory]
 *
 * Objects are built here straight from the spec (own header serializer, own HKDF/HMAC/AES-GCM chunk code),
 * not with the library's encrypt(), so the vectors are a second implementation that the library's
 * decrypt() must agree with. Only the share JWE uses the library's wrapShare (jose), since JWE is not ours.
 * Holder keys, object ids and shares are random, so every run gives different (equally valid) files.
 */
import {
  createCipheriv,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { keyIdOf, wrapAlgFor } from '../src/crypto/holder-keys.js';
import { wrapShare } from '../src/format/share-jwe.js';
import { handRsaJwe, shareHeaderJson } from '../test/support/hand-jwe.js';

const SCHEMA = 'opendke-test-vector/1';
const MAGIC = Buffer.from('OpenDKE', 'ascii');

interface HolderKey {
  readonly spec: string;
  readonly key: KeyObject;
  readonly kid: string;
}

async function holderKey(spec: 'P-256' | 'P-384' | 'P-521' | 'RSA-3072'): Promise<HolderKey> {
  const key =
    spec === 'RSA-3072'
      ? generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 65537 }).privateKey
      : generateKeyPairSync('ec', { namedCurve: spec }).privateKey;
  return { spec, key, kid: await keyIdOf(key) };
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'ascii'), 32));
}

/** One holder of an object being built; the overrides produce deliberately inconsistent stanzas. */
interface HolderPlan {
  /** The key the share is really wrapped to. */
  readonly wrapTo: HolderKey;
  readonly type?: string;
  readonly locator?: string;
  /** Key id written in the stanza (default: wrapTo's). */
  readonly stanzaKid?: string;
  /** Key id written in the JWE protected header (default: the stanza's). */
  readonly jweKid?: string;
  /** Builds the stanza body instead of wrapShare (hand-made JWEs and non-JWE bodies). */
  readonly body?: (share: Buffer, objectId: Buffer, kid: string) => string;
}

interface StanzaBytes {
  readonly type: string;
  readonly kid: string;
  readonly locator: string;
  readonly body: string;
}

function serializeStanza(stanza: StanzaBytes): Buffer {
  const type = Buffer.from(stanza.type, 'ascii');
  const kid = Buffer.from(stanza.kid, 'ascii');
  const locator = Buffer.from(stanza.locator, 'utf8');
  const body = Buffer.from(stanza.body, 'ascii');
  const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
  return Buffer.concat([
    Buffer.from([type.length]),
    type,
    Buffer.from([kid.length]),
    kid,
    u16(locator.length),
    locator,
    u16(body.length),
    body,
  ]);
}

function nonce(index: number, last: boolean): Buffer {
  const out = Buffer.alloc(12);
  out.writeUIntBE(index, 5, 6); // 11-byte big-endian counter (indexes here are small)
  out[11] = last ? 1 : 0;
  return out;
}

function seal(key: Buffer, index: number, last: boolean, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(index, last));
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

interface BuildOptions {
  readonly holders: readonly HolderPlan[];
  readonly plaintext: Buffer;
  readonly chunkLog2?: number;
  readonly version?: number;
  /** Append an empty last chunk after a full one (forbidden by §6). */
  readonly extraEmptyLastChunk?: boolean;
}

interface Built {
  readonly bytes: Buffer;
  readonly headerLength: number;
  readonly chunkOffsets: readonly number[];
  readonly objectId: Buffer;
  readonly chunkLog2: number;
  readonly stanzas: readonly StanzaBytes[];
  readonly shares: readonly Buffer[];
  readonly contentKey: Buffer;
  readonly payloadKey: Buffer;
  readonly macKey: Buffer;
  readonly commitment: Buffer;
  readonly mac: Buffer;
}

/** Builds an object per docs/format.md §3-6, with a correct commitment and MAC for whatever it contains. */
async function build(options: BuildOptions): Promise<Built> {
  const chunkLog2 = options.chunkLog2 ?? 16;
  const objectId = randomBytes(16);
  const shares = options.holders.map(() => randomBytes(32));
  const stanzas: StanzaBytes[] = [];
  for (const [i, plan] of options.holders.entries()) {
    const kid = plan.stanzaKid ?? plan.wrapTo.kid;
    const share = shares[i] as Buffer;
    const body =
      plan.body?.(share, objectId, plan.jweKid ?? kid) ??
      (await wrapShare(share, createPublicKey(plan.wrapTo.key), { objectId, keyId: plan.jweKid ?? kid }));
    stanzas.push({ type: plan.type ?? 'local', kid, locator: plan.locator ?? '', body });
  }
  const contentKey = hkdf(Buffer.concat(shares), objectId, 'OpenDKE v1 content key');
  const payloadKey = hkdf(contentKey, objectId, 'OpenDKE v1 payload key');
  const macKey = hkdf(contentKey, objectId, 'OpenDKE v1 header MAC key');
  const commitment = hkdf(contentKey, objectId, 'OpenDKE v1 key commitment');
  const authenticated = Buffer.concat([
    MAGIC,
    Buffer.from([options.version ?? 1]),
    objectId,
    Buffer.from([chunkLog2, stanzas.length]),
    ...stanzas.map(serializeStanza),
    commitment,
  ]);
  const mac = createHmac('sha256', macKey).update(authenticated).digest();
  const header = Buffer.concat([authenticated, mac]);

  const size = 2 ** chunkLog2;
  const plain: Buffer[] = [];
  for (let at = 0; at < options.plaintext.length; at += size)
    plain.push(options.plaintext.subarray(at, at + size));
  if (plain.length === 0 || options.extraEmptyLastChunk === true) plain.push(Buffer.alloc(0));
  const sealed = plain.map((piece, i) => seal(payloadKey, i, i === plain.length - 1, piece));
  const chunkOffsets: number[] = [];
  let offset = header.length;
  for (const chunk of sealed) {
    chunkOffsets.push(offset);
    offset += chunk.length;
  }
  return {
    bytes: Buffer.concat([header, ...sealed]),
    headerLength: header.length,
    chunkOffsets,
    objectId,
    chunkLog2,
    stanzas,
    shares,
    contentKey,
    payloadKey,
    macKey,
    commitment,
    mac,
  };
}

/** Deterministic plaintext, so a reader can eyeball it: bytes i*7+3 mod 251 (a prime, so no 256-period). */
function plaintextOf(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + 3) % 251;
  return out;
}

interface VectorKeyJson {
  kid: string;
  spec: string;
  alg: string;
  pkcs8: string;
}

function keyJson(holder: HolderKey): VectorKeyJson {
  return {
    kid: holder.kid,
    spec: holder.spec,
    alg: wrapAlgFor(holder.key),
    pkcs8: b64url(holder.key.export({ format: 'der', type: 'pkcs8' })),
  };
}

function validVector(
  name: string,
  description: string,
  keys: readonly HolderKey[],
  built: Built,
  plaintext: Buffer,
): object {
  return {
    schema: SCHEMA,
    name,
    description,
    keys: keys.map(keyJson),
    ciphertext: b64(built.bytes),
    expect: { plaintext: b64(plaintext) },
    header: {
      version: 1,
      objectId: b64url(built.objectId),
      chunkLog2: built.chunkLog2,
      headerLength: built.headerLength,
      holders: built.stanzas.map((stanza) => ({
        type: stanza.type,
        kid: stanza.kid,
        locator: stanza.locator,
      })),
    },
    keySchedule: {
      shares: built.shares.map(b64url),
      contentKey: b64url(built.contentKey),
      payloadKey: b64url(built.payloadKey),
      macKey: b64url(built.macKey),
      commitment: b64url(built.commitment),
      mac: b64url(built.mac),
    },
  };
}

function failureVector(
  name: string,
  description: string,
  keys: readonly HolderKey[],
  ciphertext: Buffer,
  error: string,
  holder?: HolderKey,
): object {
  return {
    schema: SCHEMA,
    name,
    description,
    keys: keys.map(keyJson),
    ciphertext: b64(ciphertext),
    expect: holder === undefined ? { error } : { error, holder: holder.kid },
  };
}

function flip(bytes: Buffer, offset: number, mask = 0x01): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] as number) ^ mask;
  return copy;
}

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join('testdata', 'vectors'));
  await fs.mkdir(outDir, { recursive: true });

  const a = await holderKey('P-256');
  const b = await holderKey('P-256');
  const other = await holderKey('P-256');
  const p384 = await holderKey('P-384');
  const p521 = await holderKey('P-521');
  const rsa = await holderKey('RSA-3072');
  const pair = [a, b];
  const plans = (keys: readonly HolderKey[]): HolderPlan[] => keys.map((wrapTo) => ({ wrapTo }));

  const vectors: Record<string, object> = {};
  const valid = async (
    name: string,
    description: string,
    keys: HolderKey[],
    length: number,
    chunkLog2?: number,
  ): Promise<void> => {
    const plaintext = plaintextOf(length);
    const built = await build({ holders: plans(keys), plaintext, chunkLog2 });
    vectors[name] = validVector(name, description, keys, built, plaintext);
  };

  await valid(
    'valid-empty',
    'empty plaintext: one empty last chunk (16-byte tag only); two P-256 holders',
    pair,
    0,
  );
  await valid('valid-one-byte', 'one byte of plaintext, default chunk size 2^16', pair, 1);
  await valid(
    'valid-exactly-one-chunk',
    'exactly one full chunk (4096 bytes at chunk_log2 12), sealed as the last chunk',
    pair,
    4096,
    12,
  );
  await valid(
    'valid-multi-chunk',
    'chunk_log2 12, 3*4096+1 bytes: three full chunks and a 1-byte last chunk',
    pair,
    3 * 4096 + 1,
    12,
  );
  await valid(
    'valid-multi-chunk-full-last',
    'chunk_log2 12, 2*4096 bytes: the last chunk is full',
    pair,
    2 * 4096,
    12,
  );
  await valid(
    'valid-three-holders',
    'three holders on P-256, P-384 and P-521; 1000 bytes',
    [a, p384, p521],
    1000,
  );
  await valid(
    'valid-rsa3072-p384',
    'RSA-3072 (RSA-OAEP-256) and P-384 (ECDH-ES+A256KW) holders; chunk_log2 12, 5000 bytes',
    [rsa, p384],
    5000,
    12,
  );

  // Failures: most start from one valid base object of three chunks at chunk_log2 12.
  const base = await build({ holders: plans(pair), plaintext: plaintextOf(2 * 4096 + 100), chunkLog2: 12 });
  const [, c1, c2] = base.chunkOffsets as [number, number, number];
  const header = base.bytes.subarray(0, base.headerLength);
  const chunk = (i: number): Buffer =>
    base.bytes.subarray(base.chunkOffsets[i], base.chunkOffsets[i + 1] ?? base.bytes.length);
  const fail = (
    name: string,
    description: string,
    bytes: Buffer,
    error: string,
    keys: HolderKey[] = pair,
    holder?: HolderKey,
  ): void => {
    vectors[name] = failureVector(name, description, keys, bytes, error, holder);
  };

  fail(
    'fail-bad-magic',
    'first magic byte changed (O -> o): not an OpenDKE file',
    flip(base.bytes, 0, 0x20),
    'ERR_FORMAT_MALFORMED',
  );
  const v2 = Buffer.from(base.bytes);
  v2[7] = 2;
  fail(
    'fail-version-2',
    'version byte 0x02; nothing after it is interpreted',
    v2,
    'ERR_FORMAT_UNSUPPORTED_VERSION',
  );
  const single = await build({ holders: plans([a]), plaintext: plaintextOf(10) });
  fail(
    'fail-holder-count-1',
    'one holder only, with a commitment and MAC that are correct for it',
    single.bytes,
    'ERR_FORMAT_MALFORMED',
    [a],
  );
  const small = await build({ holders: plans(pair), plaintext: plaintextOf(10), chunkLog2: 11 });
  fail(
    'fail-chunk-log2-11',
    'chunk_log2 11 (below 12), otherwise correctly authenticated',
    small.bytes,
    'ERR_FORMAT_MALFORMED',
  );
  const secondStanzaBody = base.headerLength - 64 - 100;
  fail(
    'fail-truncated-header',
    'the file ends inside the second stanza body',
    base.bytes.subarray(0, secondStanzaBody),
    'ERR_FORMAT_MALFORMED',
  );
  fail(
    'fail-header-only',
    'a complete header and no payload at all (not even the empty last chunk)',
    Buffer.from(header),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-flipped-commitment',
    'one bit of the key commitment flipped',
    flip(base.bytes, base.headerLength - 64),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-flipped-mac',
    'one bit of the header MAC flipped',
    flip(base.bytes, base.headerLength - 1, 0x80),
    'ERR_DECRYPTION_FAILED',
  );
  const resized = Buffer.from(base.bytes);
  resized[24] = 13;
  fail(
    'fail-chunk-size-changed',
    'chunk_log2 changed from 12 to 13 (the MAC covers it)',
    resized,
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-flipped-chunk-byte',
    'one bit flipped in the middle chunk ciphertext',
    flip(base.bytes, c1 + 100),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-flipped-tag-byte',
    'one bit flipped in the last chunk tag',
    flip(base.bytes, base.bytes.length - 1),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-truncated-at-chunk-boundary',
    'the last chunk removed: the file ends after a full non-last chunk',
    base.bytes.subarray(0, c2),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-truncated-mid-chunk',
    'the file ends 50 bytes into the last chunk',
    base.bytes.subarray(0, c2 + 50),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-trailing-byte',
    'one byte (0x00) appended after the last chunk',
    Buffer.concat([base.bytes, Buffer.alloc(1)]),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-swapped-chunks',
    'chunks 0 and 1 swapped',
    Buffer.concat([header, chunk(1), chunk(0), chunk(2)]),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-dropped-chunk',
    'chunk 1 removed',
    Buffer.concat([header, chunk(0), chunk(2)]),
    'ERR_DECRYPTION_FAILED',
  );
  fail(
    'fail-duplicated-chunk',
    'chunk 0 repeated',
    Buffer.concat([header, chunk(0), chunk(0), chunk(1), chunk(2)]),
    'ERR_DECRYPTION_FAILED',
  );
  const emptyTail = await build({
    holders: plans(pair),
    plaintext: plaintextOf(4096),
    chunkLog2: 12,
    extraEmptyLastChunk: true,
  });
  fail(
    'fail-empty-last-chunk-after-data',
    'a full chunk sealed as non-last followed by an empty chunk sealed as last (correctly authenticated, forbidden by §6)',
    emptyTail.bytes,
    'ERR_DECRYPTION_FAILED',
  );

  // Stanza 2 of another object of the same holders, spliced into the base header (its oid differs).
  const donor = await build({ holders: plans(pair), plaintext: plaintextOf(10), chunkLog2: 12 });
  const firstStanza = serializeStanza(base.stanzas[0] as StanzaBytes);
  const spliced = Buffer.concat([
    base.bytes.subarray(0, 26),
    firstStanza,
    serializeStanza(donor.stanzas[1] as StanzaBytes),
    base.bytes.subarray(base.headerLength - 64),
  ]);
  fail(
    'fail-spliced-stanza',
    "holder 2's stanza copied from another object (JWE oid differs)",
    spliced,
    'ERR_HOLDER_BINDING_MISMATCH',
    pair,
    b,
  );
  const kidMismatch = await build({
    holders: [{ wrapTo: a }, { wrapTo: b, jweKid: other.kid }],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-jwe-kid-mismatch',
    "holder 2's JWE names another key id than its stanza (authenticated header)",
    kidMismatch.bytes,
    'ERR_HOLDER_BINDING_MISMATCH',
    pair,
    b,
  );
  const missing = await build({ holders: plans(pair), plaintext: plaintextOf(10) });
  fail(
    'fail-key-missing',
    "the reader has holder 1's key and some other key, but not holder 2's (its stanza names a key id no given key has)",
    missing.bytes,
    'ERR_HOLDER_KEY_MISSING',
    [a, other],
    b,
  );
  const wrongKey = await build({
    holders: [{ wrapTo: a }, { wrapTo: other, stanzaKid: b.kid }],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-wrong-key-same-kid',
    "holder 2's stanza and JWE name key b, but the share was wrapped to another key: b cannot unwrap it",
    wrongKey.bytes,
    'ERR_HOLDER_UNWRAP_FAILED',
    pair,
    b,
  );
  const unknownType = await build({
    holders: [{ wrapTo: a }, { wrapTo: b, type: 'hsm-v2', locator: 'urn:example:hsm:slot-7' }],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-unknown-holder-type',
    'holder 2 has type "hsm-v2" (parsed, but no reader supports it); the reader even has the key',
    unknownType.bytes,
    'ERR_HOLDER_TYPE_UNSUPPORTED',
    pair,
    b,
  );

  // Rules a reader enforces beyond lengths and character sets (§3, §4.2, §4.3); each object is otherwise
  // correct (right commitment and MAC, shares that unwrap), so only the rule refuses it.
  const localLocator = await build({
    holders: [{ wrapTo: a }, { wrapTo: b, locator: 'https://keys.example/keys/b' }],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-local-locator',
    'holder 2 is type local with a non-empty locator (§4.3: it MUST be empty)',
    localLocator.bytes,
    'ERR_FORMAT_MALFORMED',
    pair,
    b,
  );
  const sameKeyTwice = await build({ holders: plans([a, b, a]), plaintext: plaintextOf(10) });
  fail(
    'fail-duplicate-holder-key',
    'holders 1 and 3 are the same key a (two shares under one key: not n independent holders)',
    sameKeyTwice.bytes,
    'ERR_FORMAT_MALFORMED',
    pair,
    a,
  );
  const rsaPublic = createPublicKey(rsa.key);
  const zipped = await build({
    holders: [
      { wrapTo: a },
      {
        wrapTo: rsa,
        body: (share, objectId, kid) =>
          handRsaJwe(
            shareHeaderJson(kid, b64url(objectId), ',"zip":"DEF"'),
            deflateRawSync(share),
            rsaPublic,
          ),
      },
    ],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-jwe-zip',
    "holder 2's JWE protected header has zip DEF (its plaintext is the deflated share): zip is not allowed",
    zipped.bytes,
    'ERR_HOLDER_BINDING_MISMATCH',
    [a, rsa],
    rsa,
  );
  const repeated = await build({
    holders: [
      { wrapTo: a },
      {
        wrapTo: rsa,
        body: (share, objectId, kid) =>
          handRsaJwe(
            shareHeaderJson(kid, b64url(randomBytes(16)), `,"oid":"${b64url(objectId)}"`),
            share,
            rsaPublic,
          ),
      },
    ],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-jwe-duplicate-member',
    "holder 2's JWE protected header has oid twice, another object's first and this one's last",
    repeated.bytes,
    'ERR_HOLDER_BINDING_MISMATCH',
    [a, rsa],
    rsa,
  );
  const notJwe = await build({
    holders: [{ wrapTo: a }, { wrapTo: b, body: () => 'not.a.compact.jwe' }],
    plaintext: plaintextOf(10),
  });
  fail(
    'fail-body-not-jwe',
    "holder 2's stanza body is 'not.a.compact.jwe' (valid characters, four parts): not a share JWE",
    notJwe.bytes,
    'ERR_HOLDER_BINDING_MISMATCH',
    pair,
    b,
  );

  const existing = (await fs.readdir(outDir)).filter((file) => file.endsWith('.json'));
  for (const file of existing) await fs.unlink(path.join(outDir, file));
  for (const [name, vector] of Object.entries(vectors)) {
    await fs.writeFile(path.join(outDir, `${name}.json`), `${JSON.stringify(vector, null, 2)}\n`);
  }
  process.stderr.write(`make-vectors: wrote ${Object.keys(vectors).length} vectors to ${outDir}\n`);
}

await main();
