/**
 * CLI input and output. Output files are written atomically: into a temporary file beside the target,
 * renamed over it only after the whole stream succeeded, and removed on any failure or interrupt, so a
 * failed decrypt never leaves partial plaintext behind. Devices and pipes (/dev/null, FIFOs) are written
 * directly, and `-` means stdin/stdout.
 */
import { createReadStream, createWriteStream, promises as fs, unlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DkeError } from '../errors/index.js';

export interface Input {
  readonly stream: Readable;
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
  const stream = createReadStream(file, { highWaterMark: READ_CHUNK });
  return { stream, size: stats.isFile() ? stats.size : undefined, name: file };
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
    await pipeline(source, process.stdout, { end: false });
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
    await pipeline(source, createWriteStream(target, { flags: 'w' })); // device or pipe: nothing to rename
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
    await pipeline(source, createWriteStream(temporary, { flags: 'wx', mode })).catch((cause: unknown) => {
      throw (cause as NodeJS.ErrnoException).syscall !== undefined
        ? ioError(`cannot write ${target}`, cause)
        : cause;
    });
    // Durable before it becomes visible under the target name.
    const handle = await fs.open(temporary, 'r+');
    try {
      await handle.sync();
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
