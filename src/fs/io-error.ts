/** ERR_IO for a failed file operation, saying in words what the system reported. */
import { DkeError } from '../errors/index.js';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  EPIPE: 'the reading end was closed',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'file name too long',
  ENOTDIR: 'a part of the path is not a directory',
};

/** `message: reason` (the errno code itself when there are no words for it); the cause stays as detail. */
export function ioError(message: string, cause: unknown, hint?: string): DkeError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why = code === undefined ? undefined : (REASONS[code] ?? code);
  return new DkeError('ERR_IO', { message: why === undefined ? message : `${message}: ${why}`, hint, cause });
}
