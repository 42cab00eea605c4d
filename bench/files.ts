/**
 * File throughput and memory (docs/benchmarks.md "File throughput"): `dke encrypt` / `dke decrypt` with two
 * local holders against `age`, `gpg` and the raw AES-256-GCM speed of node:crypto and `openssl speed`, plus
 * the peak RSS of dke at --size and at --rss-large.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chunkPipeline } from '../src/client/chunk-pipeline.js';
import { cipherThreads } from '../src/client/chunk-workers.js';
import { DEFAULT_CHUNK_LOG2 } from '../src/format/constants.js';
import { opensslAesGcm, type AesSpeed } from './openssl.js';
import {
  dke,
  formatSize,
  freeBytes,
  log,
  makeTempDir,
  markdownTable,
  MB,
  MiB,
  num,
  ratio,
  ratioText,
  removeTempDir,
  runCommand,
  runOk,
  type CommandSpec,
  type PhaseResult,
  type TargetCheck,
  which,
} from './util.js';

export interface FilesOptions {
  /** Size of the throughput test file, bytes. */
  readonly size: number;
  /** Size of the large RSS test file, bytes; undefined skips it. */
  readonly rssLarge: number | undefined;
  /** Timed runs per row; the best counts. */
  readonly runs: number;
  readonly tmpRoot: string;
  /** Duration of each `openssl speed` measurement. */
  readonly opensslSeconds: number;
}

type Operation = 'encrypt' | 'decrypt';
type Destination = 'devnull' | 'file';

interface Tool {
  readonly id: string;
  /** Whether the tool itself fsyncs a regular output file (dke does, before renaming it into place). */
  readonly fsyncsOutput: boolean;
  encrypt(input: string, output: string): CommandSpec;
  decrypt(input: string, output: string): CommandSpec;
  /** Extra clean-up (e.g. stopping gpg-agent). */
  close?(): Promise<void>;
}

interface RunSample {
  readonly seconds: number;
  /** `sync FILE` right after a peer wrote a regular file (dke fsyncs inside its own run). */
  readonly fsyncSeconds: number | undefined;
  readonly maxRssKiB: number | undefined;
}

export interface Measurement {
  readonly tool: string;
  readonly command: string;
  readonly operation: Operation;
  readonly destination: Destination;
  readonly bytes: number;
  readonly samples: readonly RunSample[];
  /** Best run, as the tool ran it. */
  readonly mbPerSecond: number;
  /** Best run including an fsync of the output: what dke's own number always includes. */
  readonly mbPerSecondDurable: number | undefined;
  readonly maxRssKiB: number | undefined;
}

const DESTINATIONS: readonly Destination[] = ['devnull', 'file'];
const DEST_LABEL: Record<Destination, string> = { devnull: '/dev/null', file: 'file' };
/** The format's default chunk size (docs/format.md §6). */
const CHUNK = 2 ** DEFAULT_CHUNK_LOG2;
const RSS_TARGET_MIB = 128;
/** Share of `openssl speed -multi <cores>` that dke encrypt/decrypt must reach (issue 13). */
const OPENSSL_ALL_CORES_SHARE = 0.5;

/** Generous but bounded: one minute plus 4 MB/s. */
function timeoutFor(bytes: number): number {
  return 60_000 + (bytes / (4 * MB)) * 1000;
}

/**
 * Writes `size` bytes of random data; returns their SHA-256 unless `repeatBlock`, which writes one 64 MiB
 * random block over and over (fast enough for the 10 GiB file, whose content is never compared).
 */
function writeRandomFile(file: string, size: number, repeatBlock: boolean): string | undefined {
  const hash = repeatBlock ? undefined : createHash('sha256');
  const block = Buffer.allocUnsafe(Math.min(repeatBlock ? 64 * MiB : 16 * MiB, Math.max(size, 1)));
  if (repeatBlock) randomFillSync(block);
  const fd = openSync(file, 'w', 0o600);
  try {
    for (let written = 0; written < size;) {
      if (!repeatBlock) randomFillSync(block);
      const part = block.subarray(0, Math.min(block.length, size - written));
      hash?.update(part);
      for (let offset = 0; offset < part.length;) offset += writeSync(fd, part, offset);
      written += part.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash?.digest('hex');
}

/** Reads a file once (into the page cache), optionally hashing it. */
async function readThrough(file: string, hash = false): Promise<string | undefined> {
  const digest = hash ? createHash('sha256') : undefined;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB }) as AsyncIterable<Buffer>) {
    digest?.update(chunk);
  }
  return digest?.digest('hex');
}

// ---- the tools

async function dkeTool(dir: string): Promise<Tool> {
  const keys = [
    { file: path.join(dir, 'holder-p384.key'), type: 'P-384' },
    { file: path.join(dir, 'holder-rsa3072.key'), type: 'RSA-3072' },
  ];
  const recipients: string[] = [];
  for (const key of keys) {
    const result = await runOk(dke(['keygen', '-o', key.file, '-t', key.type, '-q']), {
      timeoutMs: 60_000,
      captureStdout: true,
    });
    recipients.push(result.stdout.trim());
  }
  return {
    id: 'dke',
    fsyncsOutput: true,
    encrypt: (input, output) =>
      dke(['encrypt', ...recipients.flatMap((r) => ['-H', r]), '-o', output, '--force', input]),
    decrypt: (input, output) =>
      dke(['decrypt', ...keys.flatMap((k) => ['-i', k.file]), '-o', output, '--force', input]),
  };
}

async function ageTool(dir: string): Promise<Tool | undefined> {
  if (which('age') === undefined || which('age-keygen') === undefined) return undefined;
  const keyFile = path.join(dir, 'age.key');
  await runOk({ file: 'age-keygen', args: ['-o', keyFile] }, { timeoutMs: 30_000 });
  const recipient = (
    await runOk({ file: 'age-keygen', args: ['-y', keyFile] }, { timeoutMs: 30_000, captureStdout: true })
  ).stdout.trim();
  return {
    id: 'age',
    fsyncsOutput: false,
    encrypt: (input, output) => ({ file: 'age', args: ['-r', recipient, '-o', output, input] }),
    decrypt: (input, output) => ({ file: 'age', args: ['-d', '-i', keyFile, '-o', output, input] }),
  };
}

const GPG_UID = 'OpenDKE Bench <bench@opendke.invalid>';

async function gpgTools(dir: string): Promise<Tool[]> {
  if (which('gpg') === undefined) return [];
  const home = path.join(dir, 'gnupg');
  mkdirSync(home, { mode: 0o700 });
  chmodSync(home, 0o700);
  const env = { ...process.env, GNUPGHOME: home };
  const base = ['--batch', '--yes', '--quiet', '--no-tty'];
  const noPassphrase = ['--pinentry-mode', 'loopback', '--passphrase', ''];
  await runOk(
    {
      file: 'gpg',
      args: [...base, ...noPassphrase, '--quick-gen-key', GPG_UID, 'default', 'default', 'never'],
      env,
    },
    { timeoutMs: 120_000 },
  );
  const close = async (): Promise<void> => {
    if (which('gpgconf') !== undefined)
      await runCommand({ file: 'gpgconf', args: ['--kill', 'gpg-agent'], env }, { timeoutMs: 30_000 });
  };
  const make = (id: string, options: readonly string[], withClose: boolean): Tool => ({
    id,
    fsyncsOutput: false,
    encrypt: (input, output) => ({
      file: 'gpg',
      args: [
        ...base,
        '--trust-model',
        'always',
        '-r',
        'bench@opendke.invalid',
        ...options,
        '-o',
        output,
        '-e',
        input,
      ],
      env,
    }),
    decrypt: (input, output) => ({
      file: 'gpg',
      args: [...base, ...noPassphrase, '-o', output, '-d', input],
      env,
    }),
    ...(withClose ? { close } : {}),
  });
  return [
    make('gpg', ['--cipher-algo', 'AES256', '--compress-algo', 'none'], false),
    make('gpg-default', [], true),
  ];
}

// ---- measuring

async function measure(
  tool: Tool,
  operation: Operation,
  destination: Destination,
  input: string,
  outFile: string,
  bytes: number,
  runs: number,
): Promise<Measurement> {
  const samples: RunSample[] = [];
  let command = '';
  for (let run = 0; run < runs; run += 1) {
    const output = destination === 'devnull' ? '/dev/null' : outFile;
    if (destination === 'file') rmSync(outFile, { force: true });
    const spec = tool[operation](input, output);
    command = [path.basename(spec.file === process.execPath ? 'node' : spec.file), ...spec.args].join(' ');
    const result = await runOk(spec, { timeoutMs: timeoutFor(bytes), measureRss: true });
    let fsyncSeconds: number | undefined;
    if (destination === 'file' && !tool.fsyncsOutput) {
      fsyncSeconds = (await runOk({ file: 'sync', args: [outFile] }, { timeoutMs: timeoutFor(bytes) }))
        .seconds;
    }
    samples.push({ seconds: result.seconds, fsyncSeconds, maxRssKiB: result.maxRssKiB });
  }
  const best = Math.min(...samples.map((s) => s.seconds));
  const durable =
    destination === 'devnull'
      ? undefined
      : Math.min(...samples.map((s) => s.seconds + (s.fsyncSeconds ?? 0)));
  const rss = samples.map((s) => s.maxRssKiB).filter((v): v is number => v !== undefined);
  const measurement: Measurement = {
    tool: tool.id,
    command,
    operation,
    destination,
    bytes,
    samples,
    mbPerSecond: bytes / MB / best,
    mbPerSecondDurable: durable === undefined ? undefined : bytes / MB / durable,
    maxRssKiB: rss.length === 0 ? undefined : Math.max(...rss),
  };
  log(
    `  ${tool.id} ${operation} → ${DEST_LABEL[destination]}: ${num(measurement.mbPerSecond)} MB/s` +
      (measurement.mbPerSecondDurable === undefined || tool.fsyncsOutput
        ? ''
        : ` (${num(measurement.mbPerSecondDurable)} MB/s with fsync)`) +
      (measurement.maxRssKiB === undefined ? '' : `, peak RSS ${num(measurement.maxRssKiB / 1024)} MiB`),
  );
  return measurement;
}

export interface RawAesResult {
  readonly encryptMbPerSecond: number;
  readonly decryptMbPerSecond: number;
}

/**
 * What Node does on one thread: AES-256-GCM over default-size chunks, one cipher object per chunk (fresh
 * nonce, 16-byte tag), in memory, `total` bytes per run, best of `runs`.
 */
export function rawAesGcm(total: number, runs: number): RawAesResult {
  const blockBytes = Math.max(CHUNK, Math.min(64 * MiB, Math.floor(total / CHUNK) * CHUNK));
  const source = randomBytes(blockBytes);
  const key = randomBytes(32);
  const chunks = blockBytes / CHUNK;
  const nonce = (index: number): Buffer => {
    const iv = Buffer.alloc(12);
    iv.writeUInt32BE(index, 8);
    return iv;
  };
  const nonces = Array.from({ length: chunks }, (_, i) => nonce(i));
  const sealed: { ciphertext: Buffer; tag: Buffer }[] = [];
  for (let i = 0; i < chunks; i += 1) {
    const cipher = createCipheriv('aes-256-gcm', key, nonces[i] as Buffer);
    const ciphertext = Buffer.concat([
      cipher.update(source.subarray(i * CHUNK, (i + 1) * CHUNK)),
      cipher.final(),
    ]);
    sealed.push({ ciphertext, tag: cipher.getAuthTag() });
  }
  const passes = Math.max(1, Math.round(total / blockBytes));
  const bytes = passes * blockBytes;
  const time = (work: () => void): number => {
    let best = Infinity;
    for (let run = 0; run < runs; run += 1) {
      const started = performance.now();
      work();
      best = Math.min(best, (performance.now() - started) / 1000);
    }
    return bytes / MB / best;
  };
  const encryptMbPerSecond = time(() => {
    for (let pass = 0; pass < passes; pass += 1) {
      for (let i = 0; i < chunks; i += 1) {
        const cipher = createCipheriv('aes-256-gcm', key, nonces[i] as Buffer);
        cipher.update(source.subarray(i * CHUNK, (i + 1) * CHUNK));
        cipher.final();
        cipher.getAuthTag();
      }
    }
  });
  const decryptMbPerSecond = time(() => {
    for (let pass = 0; pass < passes; pass += 1) {
      for (let i = 0; i < chunks; i += 1) {
        const chunk = sealed[i] as { ciphertext: Buffer; tag: Buffer };
        const decipher = createDecipheriv('aes-256-gcm', key, nonces[i] as Buffer);
        decipher.setAuthTag(chunk.tag);
        decipher.update(chunk.ciphertext);
        decipher.final();
      }
    }
  });
  return { encryptMbPerSecond, decryptMbPerSecond };
}

/**
 * dke's own chunk pipeline (src/client/chunk-pipeline.ts: worker threads, recycled buffers) on an
 * in-memory object of up to 256 MiB, repeated to `total` bytes: no process start-up, no file I/O. The
 * ceiling of what `dke encrypt`/`decrypt` can reach on this machine.
 */
export async function rawPipeline(total: number, runs: number, chunkSize = CHUNK): Promise<RawAesResult> {
  const objectBytes = Math.max(chunkSize, Math.min(256 * MiB, Math.floor(total / chunkSize) * chunkSize));
  const passes = Math.max(1, Math.round(total / objectBytes));
  const key = randomBytes(32);
  const block = randomBytes(chunkSize);
  async function* plaintext(): AsyncGenerator<Buffer> {
    for (let at = 0; at < objectBytes; at += chunkSize) yield await Promise.resolve(block);
  }
  const sealed: Buffer[] = [];
  for await (const chunk of chunkPipeline({ op: 'seal', key, chunkSize: chunkSize, source: plaintext() }))
    sealed.push(Buffer.from(chunk));
  async function* ciphertext(): AsyncGenerator<Buffer> {
    for (const chunk of sealed) yield await Promise.resolve(chunk);
  }
  const time = async (op: 'seal' | 'open'): Promise<number> => {
    let best = Infinity;
    for (let run = 0; run < runs; run += 1) {
      const started = performance.now();
      for (let pass = 0; pass < passes; pass += 1) {
        const source = op === 'seal' ? plaintext() : ciphertext();
        for await (const chunk of chunkPipeline({ op, key, chunkSize: chunkSize, source })) void chunk;
      }
      best = Math.min(best, (performance.now() - started) / 1000);
    }
    return (passes * objectBytes) / MB / best;
  };
  return { encryptMbPerSecond: await time('seal'), decryptMbPerSecond: await time('open') };
}

/** Chunk sizes the sweep compares (docs/format.md §6, "Why 1 MiB"). */
const CHUNK_SWEEP_LOG2 = [16, 18, 20, 22] as const;

interface ChunkSweepRow extends RawAesResult {
  readonly chunkSize: number;
}

interface LargeRss {
  readonly bytes: number;
  readonly encrypt: { seconds: number; maxRssKiB: number | undefined };
  readonly decrypt: { seconds: number; maxRssKiB: number | undefined };
}

async function largeRss(dir: string, tool: Tool, bytes: number): Promise<LargeRss> {
  const plain = path.join(dir, 'large.bin');
  const sealed = path.join(dir, 'large.dke');
  try {
    log(`creating the ${formatSize(bytes)} file for the RSS runs (a repeated 64 MiB random block)`);
    writeRandomFile(plain, bytes, true);
    log(`  dke encrypt ${formatSize(bytes)} → file`);
    const enc = await runOk(tool.encrypt(plain, sealed), { timeoutMs: timeoutFor(bytes), measureRss: true });
    rmSync(plain, { force: true });
    log(`  dke decrypt ${formatSize(bytes)} → /dev/null`);
    const dec = await runOk(tool.decrypt(sealed, '/dev/null'), {
      timeoutMs: timeoutFor(bytes),
      measureRss: true,
    });
    return {
      bytes,
      encrypt: { seconds: enc.seconds, maxRssKiB: enc.maxRssKiB },
      decrypt: { seconds: dec.seconds, maxRssKiB: dec.maxRssKiB },
    };
  } finally {
    rmSync(plain, { force: true });
    rmSync(sealed, { force: true });
  }
}

function checkDisk(dir: string, needed: number, what: string): void {
  const free = freeBytes(dir);
  if (free < needed) {
    throw new Error(
      `${what} needs ${formatSize(needed)} free in ${dir}, only ${formatSize(free)} available (use --tmpdir or a smaller size)`,
    );
  }
}

export async function runFiles(options: FilesOptions): Promise<PhaseResult> {
  const { size, runs } = options;
  // Input, one tool's sealed file and one decrypted copy at a time, plus slack.
  checkDisk(options.tmpRoot, size * 3 + 256 * MiB, 'the file benchmark');
  if (options.rssLarge !== undefined)
    checkDisk(options.tmpRoot, options.rssLarge * 2 + 256 * MiB, 'the large RSS run');
  const dir = makeTempDir(options.tmpRoot, 'dke-bench-files-');
  const tools: Tool[] = [];
  try {
    log(`file throughput: ${formatSize(size)} random file in ${dir}, best of ${runs}`);
    const input = path.join(dir, 'input.bin');
    const inputHash = writeRandomFile(input, size, false);
    await readThrough(input);

    const dkeT = await dkeTool(dir);
    tools.push(dkeT);
    const age = await ageTool(dir);
    if (age === undefined) log('age is not installed: skipping its rows');
    else tools.push(age);
    const gpg = await gpgTools(dir);
    if (gpg.length === 0) log('gpg is not installed: skipping its rows');
    tools.push(...gpg);

    const measurements: Measurement[] = [];
    const verified: Record<string, boolean> = {};
    for (const tool of tools) {
      const sealed = path.join(dir, `${tool.id}.sealed`);
      const opened = path.join(dir, `${tool.id}.opened`);
      await readThrough(input);
      for (const destination of DESTINATIONS)
        measurements.push(await measure(tool, 'encrypt', destination, input, sealed, size, runs));
      await readThrough(sealed);
      for (const destination of DESTINATIONS)
        measurements.push(await measure(tool, 'decrypt', destination, sealed, opened, size, runs));
      verified[tool.id] = (await readThrough(opened, true)) === inputHash;
      if (!verified[tool.id]) throw new Error(`${tool.id}: the decrypted file differs from the input`);
      rmSync(sealed, { force: true });
      rmSync(opened, { force: true });
    }

    log(`raw node:crypto AES-256-GCM, ${formatSize(CHUNK)} chunks, one thread`);
    const raw = rawAesGcm(size, runs);
    log(`  encrypt ${num(raw.encryptMbPerSecond)} MB/s, decrypt ${num(raw.decryptMbPerSecond)} MB/s`);
    log(`dke's chunk pipeline in memory, ${formatSize(CHUNK)} chunks, ${cipherThreads()} worker threads`);
    const pooled = await rawPipeline(size, runs);
    log(`  encrypt ${num(pooled.encryptMbPerSecond)} MB/s, decrypt ${num(pooled.decryptMbPerSecond)} MB/s`);
    const cores = os.availableParallelism();
    log(`openssl speed -evp aes-256-gcm (${options.opensslSeconds} s, 1 and ${cores} processes)`);
    const speed1 = await opensslAesGcm(options.opensslSeconds);
    const speedN = cores > 1 ? await opensslAesGcm(options.opensslSeconds, cores) : undefined;

    let large: LargeRss | undefined;
    if (options.rssLarge !== undefined) {
      rmSync(input, { force: true });
      large = await largeRss(dir, dkeT, options.rssLarge);
    }

    log('chunk-size sweep of the pipeline in memory (256 MiB each)');
    const sweep: ChunkSweepRow[] = [];
    for (const log2 of CHUNK_SWEEP_LOG2) {
      sweep.push({
        chunkSize: 2 ** log2,
        ...(await rawPipeline(Math.min(size, 256 * MiB), runs, 2 ** log2)),
      });
    }

    return report({ size, runs, measurements, raw, pooled, sweep, speed1, speedN, cores, large, verified });
  } finally {
    for (const tool of tools) await tool.close?.().catch(() => undefined);
    removeTempDir(dir);
  }
}

// ---- report

interface FilesData {
  readonly size: number;
  readonly runs: number;
  readonly measurements: readonly Measurement[];
  readonly raw: RawAesResult;
  readonly pooled: RawAesResult;
  readonly sweep: readonly ChunkSweepRow[];
  readonly speed1: AesSpeed | undefined;
  readonly speedN: AesSpeed | undefined;
  readonly cores: number;
  readonly large: LargeRss | undefined;
  readonly verified: Record<string, boolean>;
}

function find(data: FilesData, tool: string, op: Operation, dest: Destination): Measurement | undefined {
  return data.measurements.find((m) => m.tool === tool && m.operation === op && m.destination === dest);
}

const mib = (kib: number | undefined): string => (kib === undefined ? '–' : num(kib / 1024, 1));

function report(data: FilesData): PhaseResult {
  const { size } = data;
  const toolLabel = (m: Measurement): string => {
    const tool = m.tool;
    if (tool === 'dke') return m.operation === 'encrypt' ? 'dke encrypt (P-384 + RSA-3072)' : 'dke decrypt';
    if (tool === 'age') return m.operation === 'encrypt' ? 'age -r (X25519)' : 'age -d -i';
    const variant = tool === 'gpg' ? 'AES256, no compression' : 'defaults';
    return `gpg ${m.operation === 'encrypt' ? '-e' : '-d'} (${variant})`;
  };
  const throughput = markdownTable(
    ['Command', 'Output', 'MB/s (best)', 'MB/s incl. fsync', 'Peak RSS MiB', 'Runs (s)'],
    data.measurements.map((m) => [
      toolLabel(m),
      DEST_LABEL[m.destination],
      num(m.mbPerSecond),
      m.destination === 'devnull'
        ? '–'
        : m.tool === 'dke'
          ? `${num(m.mbPerSecond)} (own fsync)`
          : num(m.mbPerSecondDurable),
      mib(m.maxRssKiB),
      m.samples.map((s) => num(s.seconds, 2)).join(', '),
    ]),
  );

  const rawFor = (op: Operation, raw: RawAesResult): number =>
    op === 'encrypt' ? raw.encryptMbPerSecond : raw.decryptMbPerSecond;
  const peer = (tool: string, op: Operation, dest: Destination): number | undefined => {
    const m = find(data, tool, op, dest);
    return dest === 'file' ? m?.mbPerSecondDurable : m?.mbPerSecond;
  };
  const ratioRows: string[][] = [];
  const ratios: Record<string, Record<string, number | undefined>> = {};
  for (const op of ['encrypt', 'decrypt'] as const) {
    for (const dest of DESTINATIONS) {
      const ours = find(data, 'dke', op, dest)?.mbPerSecond;
      const row = {
        age: ratio(ours, peer('age', op, dest)),
        gpg: ratio(ours, peer('gpg', op, dest)),
        gpgDefault: ratio(ours, peer('gpg-default', op, dest)),
        rawNode: ratio(ours, rawFor(op, data.raw)),
        pooledNode: ratio(ours, rawFor(op, data.pooled)),
        openssl1: ratio(ours, data.speed1?.mbPerSecond),
        opensslN: ratio(ours, data.speedN?.mbPerSecond),
      };
      ratios[`${op}-${dest}`] = row;
      ratioRows.push([
        `dke ${op} → ${DEST_LABEL[dest]}`,
        ratioText(row.age),
        ratioText(row.gpg),
        ratioText(row.gpgDefault),
        ratioText(row.rawNode),
        ratioText(row.pooledNode),
        ratioText(row.openssl1),
        ratioText(row.opensslN),
      ]);
    }
  }
  const ratioTable = markdownTable(
    [
      'Ours ÷ reference',
      'age',
      'gpg AES256 uncompressed',
      'gpg defaults',
      'raw node AES-GCM (1 thread)',
      'dke pipeline in memory',
      'openssl speed (1 core)',
      `openssl speed -multi ${data.cores}`,
    ],
    ratioRows,
  );
  const reference = markdownTable(
    ['Reference', 'MB/s'],
    [
      [
        `raw node:crypto AES-256-GCM encrypt, ${formatSize(CHUNK)} chunks, 1 thread`,
        num(data.raw.encryptMbPerSecond),
      ],
      [
        `raw node:crypto AES-256-GCM decrypt, ${formatSize(CHUNK)} chunks, 1 thread`,
        num(data.raw.decryptMbPerSecond),
      ],
      [
        `dke's chunk pipeline in memory, encrypt, ${formatSize(CHUNK)} chunks, ${cipherThreads()} worker threads`,
        num(data.pooled.encryptMbPerSecond),
      ],
      [
        `dke's chunk pipeline in memory, decrypt, ${formatSize(CHUNK)} chunks, ${cipherThreads()} worker threads`,
        num(data.pooled.decryptMbPerSecond),
      ],
      [data.speed1?.command ?? 'openssl speed (not installed)', num(data.speed1?.mbPerSecond)],
      [data.speedN?.command ?? 'openssl speed -multi (skipped)', num(data.speedN?.mbPerSecond)],
    ],
  );

  const dkeRss = (op: Operation): number | undefined => {
    const values = DESTINATIONS.map((d) => find(data, 'dke', op, d)?.maxRssKiB).filter(
      (v): v is number => v !== undefined,
    );
    return values.length === 0 ? undefined : Math.max(...values);
  };
  const both = `/dev/null and file, highest of ${data.runs * DESTINATIONS.length} runs`;
  const rssRows: string[][] = [
    ['dke encrypt', both, formatSize(size), mib(dkeRss('encrypt')), '(above)'],
    ['dke decrypt', both, formatSize(size), mib(dkeRss('decrypt')), '(above)'],
  ];
  if (data.large !== undefined) {
    const { bytes, encrypt, decrypt } = data.large;
    rssRows.push(
      ['dke encrypt', 'file', formatSize(bytes), mib(encrypt.maxRssKiB), num(bytes / MB / encrypt.seconds)],
      [
        'dke decrypt',
        '/dev/null',
        formatSize(bytes),
        mib(decrypt.maxRssKiB),
        num(bytes / MB / decrypt.seconds),
      ],
    );
  }
  const rssTable = markdownTable(['Command', 'Output', 'Input', 'Peak RSS MiB', 'MB/s'], rssRows);

  const targets: TargetCheck[] = [];
  for (const [op, peerName, minimum] of [
    ['encrypt', 'age -r', 1.25],
    ['decrypt', 'age -d', 1.5],
  ] as const) {
    for (const dest of DESTINATIONS) {
      const value = ratios[`${op}-${dest}`]?.age;
      targets.push({
        target: `dke ${op} ÷ ${peerName}, to ${dest === 'devnull' ? '/dev/null' : 'a file (both fsynced)'}, ${formatSize(size)}`,
        required: `≥ ${minimum}×`,
        measured: ratioText(value),
        pass: value === undefined ? undefined : value >= minimum,
      });
    }
  }
  for (const op of ['encrypt', 'decrypt'] as const) {
    const value = ratios[`${op}-devnull`]?.opensslN;
    targets.push({
      target: `dke ${op} ÷ openssl speed -multi ${data.cores} -evp aes-256-gcm, to /dev/null, ${formatSize(size)}`,
      required: `≥ ${OPENSSL_ALL_CORES_SHARE}×`,
      measured: ratioText(value),
      pass: value === undefined ? undefined : value >= OPENSSL_ALL_CORES_SHARE,
    });
  }
  const rssTarget = (what: string, bytes: number, kib: number | undefined): TargetCheck => ({
    target: `peak RSS of ${what} at ${formatSize(bytes)}`,
    required: `≤ ${RSS_TARGET_MIB} MiB`,
    measured: kib === undefined ? '–' : `${num(kib / 1024)} MiB`,
    pass: kib === undefined ? undefined : kib / 1024 <= RSS_TARGET_MIB,
  });
  targets.push(
    rssTarget('dke encrypt', size, dkeRss('encrypt')),
    rssTarget('dke decrypt', size, dkeRss('decrypt')),
  );
  if (data.large !== undefined) {
    targets.push(
      rssTarget('dke encrypt', data.large.bytes, data.large.encrypt.maxRssKiB),
      rssTarget('dke decrypt', data.large.bytes, data.large.decrypt.maxRssKiB),
    );
  } else {
    targets.push({
      target: 'peak RSS of dke encrypt/decrypt at the large size',
      required: `≤ ${RSS_TARGET_MIB} MiB`,
      measured: 'skipped (--quick or --rss-large 0)',
      pass: undefined,
    });
  }

  const markdown = [
    `### File throughput (${formatSize(size)}, best of ${data.runs}, page cache warm)`,
    '',
    throughput,
    '',
    'Throughput is plaintext bytes ÷ wall time of the whole command (process start-up included), 1 MB = 10^6 bytes. ' +
      'dke fsyncs a regular output file before renaming it into place; age and gpg do not, so for them ' +
      '"incl. fsync" adds `sync FILE` right after the command. Ratios against peers use the /dev/null rows as ' +
      'they are and, for files, the peers\' "incl. fsync" numbers.',
    '',
    '#### Ratios',
    '',
    ratioTable,
    '',
    '#### References',
    '',
    reference,
    '',
    '#### Peak RSS (`/usr/bin/time -f %M`)',
    '',
    rssTable,
    '',
    '#### Chunk size (the pipeline in memory, best of the runs)',
    '',
    markdownTable(
      ['Chunk size', 'encrypt MB/s', 'decrypt MB/s'],
      data.sweep.map((row) => [
        formatSize(row.chunkSize),
        num(row.encryptMbPerSecond),
        num(row.decryptMbPerSecond),
      ]),
    ),
  ].join('\n');
  return {
    phase: 'files',
    data: { ...data, ratios },
    markdown,
    targets,
  };
}
