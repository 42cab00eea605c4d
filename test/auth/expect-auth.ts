/** Assertions shared by the auth tests: the error code, and that public messages carry no library text. */
import assert from 'node:assert/strict';
import { isDkeError, type ErrorCode } from '../../src/errors/index.js';

/** Words of jose's and fetch's own messages that must never reach a client. */
const INTERNAL = /JWS|JWKS|JWT|ERR_J|timestamp|fetch|GET |http:|127\.0\.0\.1|claim timestamp/;

export async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isDkeError(error), `expected a DkeError ${code}, got ${String(error)}`);
    assert.equal(
      error.code,
      code,
      `expected ${code}, got ${error.code}: ${error.message} (${error.detail ?? ''})`,
    );
    if (message) assert.match(error.message, message);
    assert.doesNotMatch(error.message, INTERNAL, 'public message leaks internals');
    return true;
  });
}
