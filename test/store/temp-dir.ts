/** Temporary directories for tests that need real files (SQLite databases, key files). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function makeTempDir(prefix = 'opendke-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Wraps a test body so it gets a fresh directory that is removed afterwards (once the body settled). */
export const withTempDir = (run: (dir: string) => void | Promise<void>) => async (): Promise<void> => {
  const dir = makeTempDir();
  try {
    await run(dir);
  } finally {
    removeDir(dir);
  }
};
