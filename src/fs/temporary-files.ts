/**
 * Temporary files of the atomic writers (atomic-file.ts), and the sweep that removes those a killed
 * writer left behind.
 *
 * Why temporaries have names at all: an unnamed file (Linux O_TMPFILE) would vanish with a crash, but
 * Node can only link it into place through linkat(AT_EMPTY_PATH) or a /proc/self/fd link followed with
 * AT_SYMLINK_FOLLOW, and fs.link() is plain link(2), which fails there (EXDEV). So a temporary is named
 * `.NAME.<host>-<pid>.<random>.dke-tmp` beside its target: created 0600 with O_EXCL|O_NOFOLLOW, removed
 * on any failure, and, if its writer was killed (SIGKILL, power loss), removed by the next writer into
 * that folder once it can tell the owner is dead. `<host>` keeps machines that share a folder (NFS)
 * from judging each other's process ids.
 */
import { constants, promises as fs } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export const TEMPORARY_SUFFIX = '.dke-tmp';

/** 8 hex digits naming this machine in temporaries (a hash: the host name itself stays private). */
export const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

const TEMPORARY_NAME = /^\..+\.([0-9a-f]{8})-([1-9]\d{0,9})\.[0-9a-f]{12}\.dke-tmp$/;

/** Temporaries this process has open right now: what a signal handler must remove before exiting. */
const live = new Set<string>();

export function liveTemporaries(): ReadonlySet<string> {
  return live;
}

/** Bytes of the target's name kept in a temporary's name: with our ~40 more, within NAME_MAX (255). */
const MAX_NAME_BYTES = 200;

export function temporaryPathFor(target: string): string {
  let base = path.basename(target);
  while (Buffer.byteLength(base) > MAX_NAME_BYTES) base = base.slice(0, -1);
  const name = `.${base}.${HOST_TAG}-${process.pid}.${randomBytes(6).toString('hex')}${TEMPORARY_SUFFIX}`;
  return path.join(path.dirname(target), name);
}

/** Creates a new temporary for `target`: 0600 whatever the final mode, never through a symlink. */
export async function createTemporary(target: string): Promise<{ path: string; handle: fs.FileHandle }> {
  const temporary = temporaryPathFor(target);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  live.add(temporary);
  try {
    return { path: temporary, handle: await fs.open(temporary, flags, 0o600) };
  } catch (error) {
    live.delete(temporary);
    throw error;
  }
}

/** Removes a temporary of ours (ignoring one already gone) and forgets it. */
export async function discardTemporary(temporary: string): Promise<void> {
  await fs.unlink(temporary).catch(() => undefined);
  live.delete(temporary);
}

/** The temporary became the target (renamed or linked and unlinked): nothing left to clean up. */
export function forgetTemporary(temporary: string): void {
  live.delete(temporary);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, someone else's
  }
}

/**
 * Removes, in `folder`, temporaries that a dead writer of this machine left: our exact naming, a regular
 * file (never a symlink: lstat) owned by the current user, whose process id is not running. Anything
 * else is left alone; so is everything when the folder cannot be read. Returns the names removed.
 */
export async function sweepStaleTemporaries(folder: string): Promise<string[]> {
  const uid = process.getuid?.();
  if (uid === undefined) return []; // no owner to compare with (Windows): judge nothing
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMPORARY_NAME.exec(name);
    if (match?.[1] !== HOST_TAG || match[2] === undefined) continue;
    const file = path.join(folder, name);
    const pid = Number(match[2]);
    if (live.has(file) || (pid !== process.pid && isRunning(pid))) continue;
    const stats = await fs.lstat(file).catch(() => undefined);
    if (stats === undefined || !stats.isFile() || stats.uid !== uid) continue;
    // unlink never follows a symlink: if the name was swapped since lstat, only that link goes.
    if (
      await fs.unlink(file).then(
        () => true,
        () => false,
      )
    )
      removed.push(name);
  }
  return removed;
}
