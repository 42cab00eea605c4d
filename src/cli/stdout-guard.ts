/**
 * A standard output that cannot be written (the reader went away: `dke audit list | head -n 1`, or a
 * full device) is an I/O error of the run for every command, in one place: `dke: error: cannot write
 * standard output: ...`, exit 3, never an unhandled 'error' event with a stack trace. (encrypt and
 * decrypt see the failure in their own writes first and report it the same way.)
 */
import { EXIT } from '../errors/index.js';
import { ioError } from '../fs/io-error.js';
import { printError } from './output.js';

export interface StdoutGuard {
  /**
   * Waits until everything written so far has reached the reader or failed, then gives the exit code:
   * `code` unchanged, or 3 after printing the error when the command succeeded but its output did not.
   */
  settle(code: number): Promise<number>;
}

export function guardStdout(): StdoutGuard {
  let failure: Error | undefined;
  let settled = false;
  let reported = false;
  const report = (): number => {
    reported = true;
    return printError(ioError('cannot write standard output', failure));
  };
  process.stdout.on('error', (error: Error) => {
    failure ??= error;
    // A failure surfacing after the run ended still decides the exit code (once).
    if (settled && !reported && (process.exitCode ?? 0) === EXIT.OK) process.exitCode = report();
  });
  process.stderr.on('error', () => undefined); // nowhere left to report to: the exit code tells
  return {
    async settle(code: number): Promise<number> {
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      settled = true;
      return failure !== undefined && code === EXIT.OK ? report() : code;
    },
  };
}
