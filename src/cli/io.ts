/**
 * CLI input and output. Regular files and character devices are read and written with synchronous calls
 * on the main thread: the chunk cipher keeps libuv's thread pool busy (src/format/chunk-cipher.ts), and an
 * asynchronous read or write would queue behind its jobs and stall the pipeline (measured: 1 GiB took 1.5 s
 * instead of 0.5 s). A page-cache copy of 1 MiB blocks for about 0.1 ms, while the pool keeps working.
 * Output files are written atomically (src/fs/atomic-file.ts): into a 0600
 * temporary file beside the target, moved into place only after the whole stream succeeded, and removed
 * on any failure or interrupt, so a failed decrypt never leaves partial plaintext behind. Devices and
 * pipes (/dev/null, FIFOs) are written directly, and `-` means stdin/stdout. A regular input file that
 * changes while it is read fails the run (ERR_INPUT_CHANGED) before any output is committed.
 */
import {
  createReadStream,
  createWriteStream,
  promises as fs,
  readSync,
  writeSync,
  type BigIntStats,
  type Stats,
} from 'node:fs';
import type { Writable } from 'node:stream';
import { DkeError, isDkeError } from '../errors/index.js';
import { writeFileAtomically } from '../fs/atomic-file.js';
import { ioError } from '../fs/io-error.js';
import { removeTemporariesOnExit } from './temporary-cleanup.js';

export interface Input {
  /** The bytes; for files a reused buffer: each piece is valid until the next is requested. */
  readonly stream: AsyncIterable<Uint8Array>;
  /** Byte size when known (regular files), for the progress bar. */
  readonly size: number | undefined;
  readonly name: string;
}

/** Bytes per read: one default chunk (1 MiB). */
const READ_CHUNK = 1024 * 1024;

export async function openInput(file: string | undefined): Promise<Input> {
  if (file === undefined || file === '-')
    return { stream: process.stdin, size: undefined, name: 'standard input' };
  let stats: Stats;
  try {
    stats = await fs.stat(file);
  } catch (cause) {
    throw ioError(`cannot read ${file}`, cause);
  }
  if (stats.isDirectory()) throw new DkeError('ERR_IO', { message: `cannot read ${file}: is a directory` });
  const stream = stats.isFile()
    ? readFileSynchronously(file)
    : createReadStream(file, { highWaterMark: READ_CHUNK });
  return { stream, size: stats.isFile() ? stats.size : undefined, name: file };
}

/** The same file, unchanged: same size and inode, no write (mtime) or metadata change (ctime) since. */
function unchanged(before: BigIntStats, after: BigIntStats): boolean {
  return (
    after.size === before.size &&
    after.mtimeNs === before.mtimeNs &&
    after.ctimeNs === before.ctimeNs &&
    after.ino === before.ino &&
    after.dev === before.dev
  );
}

function inputChanged(file: string): DkeError {
  return new DkeError('ERR_INPUT_CHANGED', {
    message: `${file} changed while it was read`,
    hint: 'something wrote to it meanwhile; run again once it is complete, or on a copy',
  });
}

/**
 * Reads a regular file into one reused buffer: a piece is valid until the next one is requested. The end
 * is only reported once the bytes read match the size at open and the file shows no change since (fstat),
 * so a file grown, shrunk or rewritten meanwhile never ends as a mixed-content output.
 */
async function* readFileSynchronously(file: string): AsyncGenerator<Buffer> {
  const handle = await fs.open(file, 'r').catch((cause: unknown) => {
    throw ioError(`cannot read ${file}`, cause);
  });
  const fstat = (): Promise<BigIntStats> =>
    handle.stat({ bigint: true }).catch((cause: unknown) => {
      throw ioError(`cannot read ${file}`, cause);
    });
  const buffer = Buffer.allocUnsafeSlow(READ_CHUNK);
  try {
    const atOpen = await fstat();
    if (!atOpen.isFile())
      throw new DkeError('ERR_IO', { message: `cannot read ${file}: not a regular file` });
    let total = 0n;
    for (;;) {
      let bytesRead: number;
      try {
        bytesRead = readSync(handle.fd, buffer, 0, READ_CHUNK, null);
      } catch (cause) {
        throw ioError(`cannot read ${file}`, cause);
      }
      if (bytesRead === 0) {
        if (total !== atOpen.size || !unchanged(atOpen, await fstat())) throw inputChanged(file);
        return;
      }
      total += BigInt(bytesRead);
      if (total > atOpen.size) throw inputChanged(file); // grew: no need to read on
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Writes all of `data` to a file or device, looping over short writes (see the module comment). */
function writeAllSynchronously(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.length;) offset += writeSync(fd, data, offset, data.length - offset);
}

/** Writes every buffer of `source` synchronously to `fd`; `name` is for the error message. */
async function writeEachSynchronously(
  source: AsyncIterable<Uint8Array>,
  fd: number,
  name: string,
): Promise<void> {
  for await (const chunk of source) {
    try {
      writeAllSynchronously(fd, chunk);
    } catch (cause) {
      throw ioError(`cannot write ${name}`, cause);
    }
  }
}

/** Writes a stream of buffers with one write in flight while the next buffer is produced. */
async function writeOverlapped(
  source: AsyncIterable<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  let inFlight: Promise<void> | undefined;
  try {
    for await (const chunk of source) {
      await inFlight;
      inFlight = write(chunk);
      inFlight.catch(() => undefined); // observed by the next await
    }
    await inFlight;
  } finally {
    await inFlight?.catch(() => undefined);
  }
}

/** Writes to a stream (stdout, a device or pipe), failing on the stream's error events too. */
async function writeEach(source: AsyncIterable<Uint8Array>, sink: Writable, name: string): Promise<void> {
  // Each write's callback reports its own failure (EPIPE, a destroyed stream). The listener only keeps
  // an 'error' event from crashing the process and fails the next write. (Racing every write against one
  // never-settled promise would pile a reaction onto it per write: a leak on long streams.)
  let streamError: Error | undefined;
  const onError = (error: Error): void => {
    streamError ??= error;
  };
  sink.on('error', onError);
  try {
    await writeOverlapped(
      source,
      (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (streamError !== undefined) {
            reject(ioError(`cannot write ${name}`, streamError));
            return;
          }
          sink.write(chunk, (error) => (error ? reject(ioError(`cannot write ${name}`, error)) : resolve()));
        }),
    );
  } finally {
    sink.off('error', onError);
  }
}

export interface OutputOptions {
  /** Replace an existing regular file (default: refuse). */
  readonly force: boolean;
  /** File mode for a new file; plaintext is written 0600. */
  readonly mode: number;
}

/** Streams `source` into `target` (a path, `-` or undefined for stdout), atomically for regular files. */
export async function writeOutput(
  source: AsyncIterable<Uint8Array>,
  target: string | undefined,
  options: OutputOptions,
): Promise<void> {
  if (target === undefined || target === '-') {
    await writeEach(source, process.stdout, 'standard output');
    return;
  }
  let existing: Stats | undefined;
  try {
    existing = await fs.stat(target);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot write ${target}`, cause);
  }
  if (existing !== undefined && !existing.isFile()) {
    if (existing.isDirectory())
      throw new DkeError('ERR_IO', { message: `cannot write ${target}: is a directory` });
    // A device or pipe: nothing to rename. Character devices (/dev/null) take synchronous writes; a FIFO
    // or socket could block the process on a slow reader, so it gets a stream.
    if (existing.isCharacterDevice()) {
      const handle = await fs.open(target, 'w').catch((cause: unknown) => {
        throw ioError(`cannot write ${target}`, cause);
      });
      await writeEachSynchronously(source, handle.fd, target).finally(() => handle.close());
      return;
    }
    const device = createWriteStream(target, { flags: 'w' });
    await writeEach(source, device, target).finally(() => device.destroy());
    return;
  }
  if (existing !== undefined && !options.force) {
    throw new DkeError('ERR_IO', { message: `${target} already exists`, hint: 'use --force to replace it' });
  }
  await writeAtomically(source, target, options);
}

async function writeAtomically(
  source: AsyncIterable<Uint8Array>,
  target: string,
  options: OutputOptions,
): Promise<void> {
  removeTemporariesOnExit();
  try {
    await writeFileAtomically(target, (handle) => writeEachSynchronously(source, handle.fd, target), {
      replace: options.force,
      mode: options.mode,
    });
  } catch (error) {
    if (isDkeError(error)) throw error;
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new DkeError('ERR_IO', {
        message: `${target} already exists`,
        hint: 'use --force to replace it',
      });
    throw ioError(`cannot write ${target}`, error);
  }
}
