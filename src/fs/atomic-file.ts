/**
 * Atomic file output: the content goes into a 0600 temporary beside the target (temporary-files.ts),
 * is synced, and only then appears under the target name, whole; on any failure the temporary is
 * removed and the target is untouched. Without `replace`, an existing target is never clobbered: the
 * temporary is hard-linked into place (link(2) fails with EEXIST, no check-then-act race).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  createTemporary,
  discardTemporary,
  forgetTemporary,
  sweepStaleTemporaries,
} from './temporary-files.js';

export interface AtomicWriteOptions {
  /** Replace an existing file (rename over it); otherwise fail with EEXIST. */
  readonly replace: boolean;
  /** Mode of the finished file, before the umask; the temporary is 0600 until it is complete. */
  readonly mode: number;
}

/** Errors of link(2) on file systems without hard links (FAT, some FUSE and SMB mounts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

function alreadyExists(): NodeJS.ErrnoException {
  return Object.assign(new Error('EEXIST: file already exists'), { code: 'EEXIST' });
}

async function commit(temporary: string, target: string, replace: boolean): Promise<void> {
  if (replace) {
    await fs.rename(temporary, target);
    return;
  }
  try {
    await fs.link(temporary, target);
  } catch (error) {
    if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    // No hard links here: fall back to check, then rename (a concurrent creator could still lose).
    if (
      await fs.lstat(target).then(
        () => true,
        () => false,
      )
    )
      throw alreadyExists();
    await fs.rename(temporary, target);
    return;
  }
  // The target is complete and in place; a temporary name that refuses to go is swept by a later run.
  await fs.unlink(temporary).catch(() => undefined);
}

/** Makes the new directory entry durable; best effort where directories cannot be synced. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, 'r').catch(() => undefined);
  if (handle === undefined) return;
  await handle
    .sync()
    .catch(() => undefined)
    .finally(() => handle.close());
}

/**
 * Writes `target` through `fill` (which writes the content to the handle) atomically. First removes
 * stale temporaries that killed dke processes left in the target's folder. Errors are the file
 * system's (ErrnoException, EEXIST when the target exists without `replace`) or whatever `fill` throws.
 */
export async function writeFileAtomically(
  target: string,
  fill: (handle: fs.FileHandle) => Promise<void>,
  options: AtomicWriteOptions,
): Promise<void> {
  const folder = path.dirname(target);
  await sweepStaleTemporaries(folder);
  const { path: temporary, handle } = await createTemporary(target);
  try {
    try {
      await fill(handle);
      const mode = options.mode & ~process.umask();
      if (mode !== 0o600) await handle.chmod(mode);
      await handle.sync(); // durable before it becomes visible under the target name
    } finally {
      await handle.close();
    }
    await commit(temporary, target, options.replace);
    forgetTemporary(temporary);
  } catch (error) {
    await discardTemporary(temporary);
    throw error;
  }
  await syncFolder(folder);
}

/** Writes all of `data` to `handle`, looping over short writes. */
export async function writeAll(handle: fs.FileHandle, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}
