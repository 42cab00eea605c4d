/**
 * The thread of src/store/sqlite/wal-sync.ts: opens the WAL file (workerData) once, then one fdatasync per
 * message, answering `null` or the error's text.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const walFile = workerData as string;
let fd: number | undefined;

parentPort?.on('message', () => {
  try {
    fd ??= fs.openSync(walFile, 'r+');
    fs.fdatasyncSync(fd);
    parentPort?.postMessage(null);
  } catch (error) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already unusable
      }
      fd = undefined;
    }
    parentPort?.postMessage(error instanceof Error ? error.message : String(error));
  }
});
