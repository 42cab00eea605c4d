/**
 * CLI input and output. Output files are written atomically: into a temporary file beside the target,
 * renamed over it only after the whole stream succeeded, and removed on any failure or interrupt, so a
 * failed decrypt never leaves partial plaintext behind. Devices and pipes (/dev/null, FIFOs) are written
 * directly, and `-` means stdin/stdout.
 */
import { createReadStream, createWriteStream, promises as fs, unlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { DkeError } from '../errors/index.js';

export interface Input {
  /** The bytes; for files a reused buffer: each piece is valid until the next is requested. */
  readonly stream: AsyncIterable<Uint8Array>;
  /** Byte size when known (regular files), for the progress bar. */
  readonly size: number | undefined;
  readonly name: string;
}

const READ_CHUNK = 256 * 1024;

function ioError(message: string, cause: unknown, hint?: string): DkeError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EPIPE'
            ? 'the reading end was closed'
            : code;
  return new DkeError('ERR_IO', { message: why === undefined ? message : `${message}: ${why}`, hint, cause });
}

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
    ? readFileReusing(file)
    : createReadStream(file, { highWaterMark: READ_CHUNK });
  return { stream, size: stats.isFile() ? stats.size : undefined, name: file };
}

/**
 * Reads a regular file into two alternating buffers, starting the next read before yielding the current
 * piece so disk reads overlap the caller's crypto. A piece is valid until the next one is requested.
 */
async function* readFileReusing(file: string): AsyncGenerator<Buffer> {
  const handle = await fs.open(file, 'r').catch((cause: unknown) => {
    throw ioError(`cannot read ${file}`, cause);
  });
  const buffers = [Buffer.allocUnsafeSlow(READ_CHUNK), Buffer.allocUnsafeSlow(READ_CHUNK)];
  let current = 0;
  let pending = handle.read(buffers[0] as Buffer, 0, READ_CHUNK, null);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return;
      const piece = (buffers[current] as Buffer).subarray(0, bytesRead);
      current = 1 - current;
      pending = handle.read(buffers[current] as Buffer, 0, READ_CHUNK, null);
      yield piece;
    }
  } finally {
    await pending.catch(() => undefined);
    await handle.close();
  }
}

/**
 * Writes a stream of reused buffers with one write in flight while the next buffer is produced: the
 * source may reuse a buffer once the consumer has asked for the buffer after the next (batch-stream.ts).
 */
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

async function writeFully(handle: fs.FileHandle, chunk: Uint8Array, target: string): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await handle
      .write(chunk, offset, chunk.length - offset)
      .catch((cause: unknown) => {
        throw ioError(`cannot write ${target}`, cause);
      });
    offset += bytesWritten;
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
    const device = createWriteStream(target, { flags: 'w' }); // device or pipe: nothing to rename
    await writeEach(source, device, target).finally(() => device.destroy());
    return;
  }
  if (existing !== undefined && !options.force) {
    throw new DkeError('ERR_IO', { message: `${target} already exists`, hint: 'use --force to replace it' });
  }
  await writeAtomically(source, target, options.mode);
}

const liveTemporaries = new Set<string>();
let signalHandlersInstalled = false;

function removeTemporariesOnSignal(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const file of liveTemporaries) {
        try {
          unlinkSync(file); // synchronous on purpose: the process exits right after
        } catch {
          /* already gone */
        }
      }
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

async function writeAtomically(
  source: AsyncIterable<Uint8Array>,
  target: string,
  mode: number,
): Promise<void> {
  const temporary = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(6).toString('hex')}.dke-tmp`,
  );
  removeTemporariesOnSignal();
  liveTemporaries.add(temporary);
  try {
    const handle = await fs.open(temporary, 'wx', mode).catch((cause: unknown) => {
      throw ioError(`cannot write ${target}`, cause);
    });
    try {
      await writeOverlapped(source, (chunk) => writeFully(handle, chunk, target));
      await handle.sync(); // durable before it becomes visible under the target name
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.unlink(temporary).catch(() => undefined);
    throw error;
  } finally {
    liveTemporaries.delete(temporary);
  }
}
