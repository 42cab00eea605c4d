/** Shared checks on error answers: small JSON, a registry code, nothing internal. */
import assert from 'node:assert/strict';
import { ERRORS, type ErrorCode } from '../../src/errors/index.js';
import type { HttpAnswer } from './harness.js';

/** Text that would betray internals: stack frames, file paths, library names, detail strings. */
const INTERNAL = [/\n\s+at /, /node_modules/, /\/tmp\//, /\bjose\b/i, /sqlite/i, /Error:/, /\.ts\b|\.js\b/];

export function assertNoInternals(text: string, secrets: readonly string[] = []): void {
  for (const pattern of INTERNAL) assert.doesNotMatch(text, pattern, `answer leaks internals: ${text}`);
  for (const secret of secrets) assert.ok(!text.includes(secret), 'answer contains a secret');
}

/** `{"error": code, "message": string}` and nothing else, with the registry status. */
export function assertError(answer: HttpAnswer, code: ErrorCode, status: number = ERRORS[code].status): void {
  assert.equal(answer.status, status, `expected ${status} ${code}, got ${answer.status} ${answer.text}`);
  assert.ok(answer.json, `not JSON: ${answer.text}`);
  assert.deepEqual(Object.keys(answer.json).sort(), ['error', 'message']);
  assert.equal(answer.json.error, code);
  assert.equal(typeof answer.json.message, 'string');
  assert.ok((answer.json.message as string).length < 200);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  assertNoInternals(answer.text);
}
