/**
 * PostgreSQL and node-postgres failures as DkeErrors (docs/storage.md, "The PostgreSQL backend"). The
 * driver's own text goes into `detail` only (logged, never sent to HTTP clients); the code tells callers
 * what to do: ERR_STORE_UNAVAILABLE (503) when the server cannot be reached or is going away, ERR_STORE_BUSY
 * (503) for lock and serialization conflicts that outlived their retries, ERR_IO for anything else.
 */
import { DkeError, isDkeError } from '../../errors/index.js';

/** The fields of a pg DatabaseError (or a Node socket error) this module looks at. */
interface DriverError {
  readonly code?: unknown;
  readonly constraint?: unknown;
  readonly message?: unknown;
}

function driverFields(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? error : {};
}

/** SQLSTATE (five characters) of a server error, or the errno code of a socket error; '' if none. */
export function errorCode(error: unknown): string {
  const { code } = driverFields(error);
  return typeof code === 'string' ? code : '';
}

/** The violated constraint's name, for unique violations (23505). */
export function violatedConstraint(error: unknown): string | undefined {
  const { constraint } = driverFields(error);
  return typeof constraint === 'string' ? constraint : undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  return (
    errorCode(error) === '23505' && (constraint === undefined || violatedConstraint(error) === constraint)
  );
}

/** Serialization failure or deadlock: the transaction did nothing and may simply run again. */
export function isRetryableConflict(error: unknown): boolean {
  const code = errorCode(error);
  return code === '40001' || code === '40P01';
}

const SOCKET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ENOENT', // a unix socket path that does not exist (server not running)
]);

/**
 * node-postgres reports some failures without a code, by message only: the pool's checkout timeout, a
 * connection the server or network closed, a query timeout, a client that broke earlier.
 */
const DRIVER_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /connection terminated/i,
  /connection timeout/i,
  /query read timeout/i,
  /not queryable/i,
  /client was closed/i,
  /socket (hang up|closed)/i,
  /does not support SSL/i,
];

/** TLS handshake failures: an untrusted or expired certificate, a name mismatch, a protocol error. */
const TLS_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS_|^ERR_SSL_/;

/**
 * Whether the failure means "the server is unreachable or going away" (the connection is not reusable):
 * class 08 (connection exception), 57P01-57P03 (admin or crash shutdown, cannot connect now), 53300 (too
 * many connections), 57014 (statement timeout: the server did not answer in time), 28xxx and 3D000 (login
 * or database refused), socket and TLS failures (an untrusted certificate: no trustworthy server to talk to),
 * driver timeouts and dropped connections.
 */
export function isUnavailable(error: unknown): boolean {
  const code = errorCode(error);
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  if (code === '53300' || code === '57014' || code === '3D000' || code.startsWith('28')) return true;
  if (SOCKET_ERRORS.has(code) || TLS_FAILURE.test(code)) return true;
  const { message } = driverFields(error);
  return typeof message === 'string' && DRIVER_MESSAGES.some((pattern) => pattern.test(message));
}

/**
 * A connection that was alive and then ended under us: the server terminated the session (57P01 admin
 * shutdown, pg_terminate_backend; 57P02 crash) or the socket broke. Unlike a failure to connect, another
 * connection may well work: the pool held this one idle while the server restarted.
 */
export function isDroppedConnection(error: unknown): boolean {
  const code = errorCode(error);
  if (code === '57P01' || code === '57P02' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  const { message } = driverFields(error);
  return typeof message === 'string' && /connection terminated unexpectedly|not queryable/i.test(message);
}

/** Lock wait over (55P03 lock_not_available, from lock_timeout) or a conflict that outlived its retries. */
export function isBusy(error: unknown): boolean {
  return errorCode(error) === '55P03' || isRetryableConflict(error);
}

function detailOf(error: unknown): string {
  const code = errorCode(error);
  const text = error instanceof Error ? error.message : String(error);
  return code === '' ? text : `${text} (${code})`;
}

/** Any failure as a DkeError: DkeErrors pass through, driver errors are classified (see above). */
export function asStoreError(error: unknown, message = 'key store read or write failed'): DkeError {
  if (isDkeError(error)) return error;
  if (isUnavailable(error)) {
    return new DkeError('ERR_STORE_UNAVAILABLE', { detail: `PostgreSQL: ${detailOf(error)}`, cause: error });
  }
  if (isBusy(error)) {
    return new DkeError('ERR_STORE_BUSY', {
      detail: `PostgreSQL lock or serialization conflict: ${detailOf(error)}`,
      cause: error,
    });
  }
  return new DkeError('ERR_IO', { message, detail: `PostgreSQL: ${detailOf(error)}`, cause: error });
}
