/**
 * Shared helpers for the format, client and CLI tests: holder keys generated once per process, encrypt and
 * decrypt to a Buffer with the input cut into arbitrary pieces, surgery on OpenDKE objects (split into
 * header and chunks, flip bits, swap stanzas), test-only holders, and running the `dke` CLI as a subprocess
 * in a temporary directory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { inspect } from 'node:util';
import { encryptIterable, type EncryptOptions } from '../../src/client/encrypt.js';
import { decryptIterable, type DecryptOptions } from '../../src/client/decrypt.js';
import { DkeError, isDkeError, type ErrorCode } from '../../src/errors/index.js';
import { MAGIC, OBJECT_ID_LENGTH, TAG_LENGTH } from '../../src/format/constants.js';
import { parseHeader, type Header, type Stanza } from '../../src/format/header.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import type { Holder, HolderContext } from '../../src/holders/holder.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';
import { serializeKeyFile } from '../../src/holders/key-file.js';
import { cliPath, testdataDir } from './paths.js';

/** The default plaintext chunk size of writers (2^20, docs/format.md §6). */
export const C = 2 ** 20;
/** The small chunk size tests use to make chunk boundaries cheap (2^12). */
export const SMALL_LOG2 = 12;
export const SMALL_C = 2 ** SMALL_LOG2;
/** Bytes one full chunk takes on disk at a given chunk size. */
export const sealedSize = (chunkLog2: number): number => 2 ** chunkLog2 + TAG_LENGTH;

// ---------------------------------------------------------------------------------------------- keys

type EcSpec = 'P-256' | 'P-384' | 'P-521';
const keyCache = new Map<EcSpec, KeyObject[]>();

/** `count` EC private keys of a curve; generated once per process and reused by every test. */
export function ecKeys(spec: EcSpec, count: number): KeyObject[] {
  const keys = keyCache.get(spec) ?? [];
  while (keys.length < count) keys.push(generateKeyPairSync('ec', { namedCurve: spec }).privateKey);
  keyCache.set(spec, keys);
  return keys.slice(0, count);
}

/** Local holders with private keys (P-256 by default: fast). The same keys on every call. */
export function localHolders(count: number, spec: EcSpec = 'P-256'): Promise<LocalKeyHolder[]> {
  return Promise.all(ecKeys(spec, count).map((key) => LocalKeyHolder.fromKey(key)));
}

/** A holder that can only wrap (its public key), as encryptors see the holders. */
export function publicHolder(key: KeyObject): Promise<LocalKeyHolder> {
  return LocalKeyHolder.fromKey(createPublicKey(key));
}

// ---------------------------------------------------------------------------------------- vectors

export interface VectorKey {
  readonly kid: string;
  readonly spec: string;
  readonly alg: string;
  readonly pkcs8: string;
}

export interface Vector {
  readonly schema: string;
  readonly name: string;
  readonly description: string;
  readonly keys: readonly VectorKey[];
  readonly ciphertext: string;
  readonly expect: { readonly plaintext: string } | { readonly error: ErrorCode; readonly holder?: string };
  readonly header?: {
    readonly version: number;
    readonly objectId: string;
    readonly chunkLog2: number;
    readonly headerLength: number;
    readonly holders: readonly { readonly type: string; readonly kid: string; readonly locator: string }[];
  };
  readonly keySchedule?: {
    readonly shares: readonly string[];
    readonly contentKey: string;
    readonly payloadKey: string;
    readonly macKey: string;
    readonly commitment: string;
    readonly mac: string;
  };
}

export const vectorsDir = path.join(testdataDir, 'vectors');

export function loadVector(name: string): Vector {
  return JSON.parse(readFileSync(path.join(vectorsDir, `${name}.json`), 'utf8')) as Vector;
}

export function privateKeyFromPkcs8(pkcs8: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(pkcs8, 'base64url'), format: 'der', type: 'pkcs8' });
}

/** A private key stored in a committed vector (lets tests use RSA-3072 without generating one). */
export function vectorKey(vectorName: string, spec: string): KeyObject {
  const entry = loadVector(vectorName).keys.find((key) => key.spec === spec);
  assert.ok(entry, `vector ${vectorName} has no ${spec} key`);
  return privateKeyFromPkcs8(entry.pkcs8);
}

// ------------------------------------------------------------------------------------ byte streams

/** Turns any iterable into an async one (as a byte stream would arrive). */
async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield await Promise.resolve(item);
}

/**
 * Yields `data` in pieces whose sizes cycle through `sizes` (copies, as a real stream would hand over).
 * A size of 0 yields an empty piece. Default: one piece.
 */
export function pieces(data: Uint8Array, sizes: readonly number[] = [data.length]): AsyncGenerator<Buffer> {
  if (data.length > 0 && sizes.every((size) => size === 0)) throw new Error('piece sizes must not all be 0');
  function* split(): Generator<Buffer> {
    if (data.length === 0) {
      yield Buffer.alloc(0);
      return;
    }
    let offset = 0;
    let turn = 0;
    while (offset < data.length) {
      const size = sizes[turn++ % sizes.length] as number;
      yield Buffer.from(data.subarray(offset, offset + size));
      offset += size;
    }
  }
  return asAsync(split());
}

/** Yields `data` cut at the given offsets (sorted, duplicates give empty pieces). */
export function cutAt(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Buffer> {
  function* split(): Generator<Buffer> {
    let previous = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const at = Math.min(Math.max(cut, previous), data.length);
      yield Buffer.from(data.subarray(previous, at));
      previous = at;
    }
    yield Buffer.from(data.subarray(previous));
  }
  return asAsync(split());
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/** Deterministic, non-repeating-looking test plaintext (cheap, so no entropy is spent on it). */
export function patternBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function encryptToBuffer(
  plaintext: Uint8Array,
  holders: readonly Holder[],
  options: EncryptOptions = {},
  pieceSizes?: readonly number[],
): Promise<Buffer> {
  return collect(encryptIterable(pieces(plaintext, pieceSizes), holders, options));
}

export function decryptToBuffer(
  ciphertext: Uint8Array,
  holders: readonly Holder[],
  options: DecryptOptions = {},
  pieceSizes?: readonly number[],
): Promise<Buffer> {
  return collect(decryptIterable(pieces(ciphertext, pieceSizes), holders, options));
}

export interface DecryptOutcome {
  /** Plaintext the library released before it stopped (all of it on success). */
  readonly released: Buffer;
  readonly error: unknown;
}

/** Decrypts and records both what was released and how it ended (error undefined on success). */
export async function decryptOutcome(
  ciphertext: Uint8Array,
  holders: readonly Holder[],
  options: DecryptOptions = {},
  pieceSizes?: readonly number[],
): Promise<DecryptOutcome> {
  const parts: Buffer[] = [];
  try {
    for await (const part of decryptIterable(pieces(ciphertext, pieceSizes), holders, options))
      parts.push(part);
  } catch (error) {
    return { released: Buffer.concat(parts), error };
  }
  return { released: Buffer.concat(parts), error: undefined };
}

/** Asserts `error` is a DkeError with `code` (and that its message contains each of `mentions`). */
export function assertDkeError(error: unknown, code: ErrorCode, mentions: readonly string[] = []): DkeError {
  assert.ok(error !== undefined, `expected ${code}, but it succeeded`);
  assert.ok(isDkeError(error), `expected DkeError ${code}, got ${inspect(error)}`);
  assert.equal(
    error.code,
    code,
    `expected ${code}, got ${error.code}: ${error.message} (${error.detail ?? ''})`,
  );
  for (const text of mentions)
    assert.ok(error.message.includes(text), `message "${error.message}" should name ${text}`);
  return error;
}

/** Decrypts, expecting failure with `code`; returns the error and asserts nothing was released if asked. */
export async function expectDecryptError(
  ciphertext: Uint8Array,
  holders: readonly Holder[],
  code: ErrorCode,
  options: { mentions?: readonly string[]; noPlaintext?: boolean; decrypt?: DecryptOptions } = {},
): Promise<DkeError> {
  const outcome = await decryptOutcome(ciphertext, holders, options.decrypt);
  const error = assertDkeError(outcome.error, code, options.mentions);
  if (options.noPlaintext === true) assert.equal(outcome.released.length, 0, 'no plaintext may be released');
  return error;
}

// ---------------------------------------------------------------------------------- object surgery

export interface ObjectParts {
  readonly header: Header;
  /** The header bytes exactly as in the object. */
  readonly headerBytes: Buffer;
  /** The sealed chunks, in order (each C + 16 bytes except the last). */
  readonly chunks: Buffer[];
}

/** Cuts an object into its header and sealed chunks. */
export function splitObject(object: Buffer): ObjectParts {
  const parsed = parseHeader(object);
  assert.ok(!('incomplete' in parsed), 'object header is incomplete');
  const size = sealedSize(parsed.header.chunkLog2);
  const chunks: Buffer[] = [];
  for (let at = parsed.length; at < object.length; at += size)
    chunks.push(object.subarray(at, Math.min(at + size, object.length)));
  return { header: parsed.header, headerBytes: object.subarray(0, parsed.length), chunks };
}

export function joinObject(headerBytes: Buffer, chunks: readonly Buffer[]): Buffer {
  return Buffer.concat([headerBytes, ...chunks]);
}

/** A copy of `bytes` with bit `bit` of byte `offset` flipped. */
export function flipBit(bytes: Uint8Array, offset: number, bit = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] as number) ^ (1 << bit);
  return copy;
}

/** Header fields' byte offsets, as laid out in docs/format.md §3. */
export interface HeaderLayout {
  readonly version: number;
  readonly objectId: number;
  readonly chunkLog2: number;
  readonly holderCount: number;
  readonly stanzas: readonly {
    readonly typeLength: number;
    readonly type: number;
    readonly keyIdLength: number;
    readonly keyId: number;
    readonly locatorLength: number;
    readonly locator: number;
    readonly bodyLength: number;
    readonly body: number;
    readonly end: number;
  }[];
  readonly commitment: number;
  readonly mac: number;
  readonly end: number;
}

export function headerLayout(header: Header): HeaderLayout {
  let at = MAGIC.length + 1 + OBJECT_ID_LENGTH + 2;
  const stanzas = header.stanzas.map((stanza) => {
    const typeLength = at;
    const type = typeLength + 1;
    const keyIdLength = type + stanza.type.length;
    const keyId = keyIdLength + 1;
    const locatorLength = keyId + stanza.keyId.length;
    const locator = locatorLength + 2;
    const bodyLength = locator + Buffer.byteLength(stanza.locator, 'utf8');
    const body = bodyLength + 2;
    const end = body + stanza.body.length;
    at = end;
    return { typeLength, type, keyIdLength, keyId, locatorLength, locator, bodyLength, body, end };
  });
  return {
    version: MAGIC.length,
    objectId: MAGIC.length + 1,
    chunkLog2: MAGIC.length + 1 + OBJECT_ID_LENGTH,
    holderCount: MAGIC.length + 1 + OBJECT_ID_LENGTH + 1,
    stanzas,
    commitment: at,
    mac: at + 32,
    end: at + 64,
  };
}

/** Serializes stanzas exactly like the format (no validation, so tests can build invalid ones). */
export function rawStanza(stanza: Stanza): Buffer {
  const type = Buffer.from(stanza.type, 'latin1');
  const keyId = Buffer.from(stanza.keyId, 'latin1');
  const locator = Buffer.from(stanza.locator, 'utf8');
  const body = Buffer.from(stanza.body, 'latin1');
  const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
  return Buffer.concat([
    Buffer.from([type.length]),
    type,
    Buffer.from([keyId.length]),
    keyId,
    u16(locator.length),
    locator,
    u16(body.length),
    body,
  ]);
}

/** The header bytes of `parts` with its stanzas replaced (commitment and MAC kept, so now stale). */
export function replaceStanzas(headerBytes: Buffer, stanzas: readonly Stanza[]): Buffer {
  const parsed = parseHeader(headerBytes);
  assert.ok(!('incomplete' in parsed));
  const layout = headerLayout(parsed.header);
  return Buffer.concat([
    headerBytes.subarray(0, layout.holderCount),
    Buffer.from([stanzas.length]),
    ...stanzas.map(rawStanza),
    headerBytes.subarray(layout.commitment, layout.end),
  ]);
}

// ------------------------------------------------------------------------------- test-only holders

/**
 * A holder that wraps with a real key but claims another identity (type, key id, locator): builds files
 * whose stanza names a key the share was not wrapped to, or a holder type this implementation lacks.
 * It cannot unwrap.
 */
export class ForgedHolder implements Holder {
  constructor(
    readonly type: string,
    readonly keyId: string,
    readonly locator: string,
    private readonly wrapTo: KeyObject,
  ) {}

  async wrap(share: Uint8Array, context: HolderContext): Promise<Stanza> {
    const body = await wrapShare(share, createPublicKey(this.wrapTo), {
      objectId: context.objectId,
      keyId: this.keyId,
    });
    return { type: this.type, keyId: this.keyId, locator: this.locator, body };
  }

  canUnwrap(): boolean {
    return false;
  }

  unwrap(): Promise<Buffer> {
    return Promise.reject(new Error('ForgedHolder cannot unwrap'));
  }
}

/**
 * NOT SECURE, tests only: a holder whose "wrapped share" is a JWE-shaped string carrying the share in the
 * clear. It passes the binding checks (the protected header has typ, alg, enc, kid, oid) and costs no
 * public-key operation, so chunking can be tested at thousands of sizes. Real holders are tested elsewhere.
 */
export class CleartextTestHolder implements Holder {
  readonly type = 'local';
  readonly locator = '';
  readonly unwrapped: string[] = [];

  constructor(readonly keyId: string) {}

  wrap(share: Uint8Array, context: HolderContext): Promise<Stanza> {
    const protectedHeader = Buffer.from(
      JSON.stringify({
        alg: 'ECDH-ES+A256KW',
        enc: 'A256GCM',
        typ: 'opendke-share',
        kid: this.keyId,
        oid: Buffer.from(context.objectId).toString('base64url'),
      }),
    ).toString('base64url');
    const body = `${protectedHeader}...${Buffer.from(share).toString('base64url')}.`;
    return Promise.resolve({ type: this.type, keyId: this.keyId, locator: this.locator, body });
  }

  canUnwrap(stanza: Stanza): boolean {
    return stanza.type === this.type && stanza.keyId === this.keyId;
  }

  unwrap(stanza: Stanza): Promise<Buffer> {
    this.unwrapped.push(stanza.keyId);
    return Promise.resolve(Buffer.from(stanza.body.split('.')[3] as string, 'base64url'));
  }
}

export function cleartextHolders(count = 2): CleartextTestHolder[] {
  return Array.from({ length: count }, (_, i) => new CleartextTestHolder(`test-holder-${i + 1}`));
}

/** A stand-in for a remote holder (type `remote`, a locator) that records whether it was asked to unwrap. */
export class SpyRemoteHolder implements Holder {
  readonly type = 'remote';
  calls = 0;
  constructor(
    readonly keyId: string,
    readonly locator: string,
    private readonly inner: LocalKeyHolder,
  ) {}

  async wrap(share: Uint8Array, context: HolderContext): Promise<Stanza> {
    const stanza = await this.inner.wrap(share, context);
    return { ...stanza, type: this.type, locator: this.locator };
  }

  canUnwrap(stanza: Stanza): boolean {
    return stanza.type === this.type && stanza.keyId === this.keyId && stanza.locator === this.locator;
  }

  unwrap(stanza: Stanza, context: HolderContext): Promise<Buffer> {
    this.calls++;
    return this.inner.unwrap({ ...stanza, type: 'local', locator: '' }, context);
  }
}

// ------------------------------------------------------------------------------------------- CLI

export interface CliResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  /** Bytes for stdin (stdin is closed empty otherwise). */
  readonly input?: Uint8Array;
  /** Extra environment; DKE_* variables of the test process are never inherited. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs `node <compiled CLI> ...args` and collects its exit code and output. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('DKE_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  Object.assign(env, { CI: '1', NO_COLOR: '1' }, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (data: Buffer) => stdout.push(data));
    child.stderr.on('data', (data: Buffer) => stderr.push(data));
    child.on('error', reject);
    child.stdin.on('error', () => undefined); // the CLI may exit before reading all of stdin
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') }),
    );
    child.stdin.end(options.input === undefined ? undefined : Buffer.from(options.input));
  });
}

/** Exit code, `dke: error:` first line, no stack trace; optional texts the error line must contain. */
export function assertCliError(result: CliResult, exitCode: number, mentions: readonly string[] = []): void {
  assert.equal(result.code, exitCode, `exit code ${String(result.code)}, stderr: ${result.stderr}`);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.match(lines[0] ?? '', /^dke: error: \S/, `stderr: ${result.stderr}`);
  for (const line of lines) {
    assert.match(line, /^dke: (error|hint): /, `every stderr line is dke: error/hint, got: ${line}`);
    assert.doesNotMatch(line, /^\s+at |\.(js|ts):\d+/, 'no stack trace');
  }
  for (const text of mentions)
    assert.ok(result.stderr.includes(text), `stderr should mention ${text}: ${result.stderr}`);
}

/** A fresh temporary directory, removed when the test file ends. */
export async function tempDir(prefix = 'dke-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes an unprotected holder key file (as dke keygen would, without spending on key generation). */
export async function writeKeyFile(
  dir: string,
  name: string,
  key: KeyObject,
  passphrase?: string,
): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, await serializeKeyFile(key, passphrase), { mode: 0o600 });
  return file;
}

/** Temporary files the CLI's atomic writer left behind (must be none). */
export async function leftoverTemporaries(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((name) => name.endsWith('.dke-tmp'));
}

export async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

export { DkeError, isDkeError };
