import { ERRORS, type ErrorCode } from './registry.js';

export interface DkeErrorOptions {
  /** Public text that replaces the registry's generic message (must contain nothing internal). */
  readonly message?: string;
  /** Internal detail for logs and the CLI's own output; never sent to HTTP clients. */
  readonly detail?: string;
  /** A suggestion for the user, printed by the CLI as `dke: hint: ...`. */
  readonly hint?: string;
  readonly cause?: unknown;
}

/** The only error type OpenDKE throws on purpose; its `code` is stable (see registry.ts). */
export class DkeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: number;
  readonly detail: string | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, options: DkeErrorOptions = {}) {
    super(
      options.message ?? ERRORS[code].message,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'DkeError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.exitCode = ERRORS[code].exit;
    this.detail = options.detail;
    this.hint = options.hint;
  }
}

export function isDkeError(value: unknown, code?: ErrorCode): value is DkeError {
  return value instanceof DkeError && (code === undefined || value.code === code);
}
