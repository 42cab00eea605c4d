/** How the CLI talks to people: `dke: error: ...` / `dke: hint: ...` on stderr, never a stack trace. */
import { DkeError, EXIT } from '../errors/index.js';

export function printError(error: unknown): number {
  if (error instanceof DkeError) {
    const detail = error.detail !== undefined && process.env.DKE_DEBUG ? ` (${error.detail})` : '';
    process.stderr.write(`dke: error: ${error.message}${detail}\n`);
    if (error.hint !== undefined) process.stderr.write(`dke: hint: ${error.hint}\n`);
    return error.exitCode;
  }
  process.stderr.write('dke: error: internal error\n');
  process.stderr.write('dke: hint: run again with DKE_DEBUG=1 to see details, and report it\n');
  if (process.env.DKE_DEBUG)
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.INTERNAL;
}

export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** commander option parser for repeatable flags (`-H a -H b`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];
