/**
 * The strict JSON reader for attacker-written headers: the RFC 8259 grammar exactly (what it accepts,
 * JSON.parse reads the same way), no repeated member names at any depth, bounded length and nesting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStrictJson } from '../../src/format/strict-json.js';

const LIMITS = { maxLength: 100_000, maxDepth: 64 };
const accepts = (text: string): unknown => {
  const result = parseStrictJson(text, LIMITS);
  assert.ok(result.ok, `should accept ${JSON.stringify(text)}: ${result.ok ? '' : result.reason}`);
  return result.value;
};
const rejects = (text: string, reason?: RegExp, limits = LIMITS): void => {
  const result = parseStrictJson(text, limits);
  assert.ok(!result.ok, `should reject ${JSON.stringify(text)}`);
  if (reason !== undefined) assert.match(result.reason, reason);
};

void test('valid JSON gives exactly what JSON.parse gives', () => {
  for (const text of [
    '{}',
    '[]',
    ' {"a" : [1, -0.5e-3, 1E+2, true, false, null, "x\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"]}\n',
    '"just a string"',
    '0',
    '{"a":{"a":{"a":1}}}', // the same name in different objects is fine
    '{"__proto__":1,"constructor":2}',
    '{"":1,"\\u0000":2}',
    '["𝄞 astral", "\\ud834\\udd1e"]',
  ]) {
    assert.deepEqual(accepts(text), JSON.parse(text));
  }
});

void test('any JSON.stringify output is accepted and read back equal', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
      const text = JSON.stringify(value);
      assert.deepEqual(accepts(text), JSON.parse(text));
    }),
    { numRuns: 300 },
  );
});

void test('repeated member names are refused, compared after unescaping, at any depth', () => {
  rejects('{"a":1,"a":1}', /duplicate member name/);
  rejects('{"a":1,"b":2,"a":3}', /duplicate/);
  rejects('{"a":1,"\\u0061":2}', /duplicate/);
  rejects('{"\\/":1,"/":2}', /duplicate/);
  rejects('[{"x":{"y":[{"k":1,"k":2}]}}]', /duplicate member name/);
  rejects('{"__proto__":1,"__proto__":2}', /duplicate/);
});

void test('everything outside RFC 8259 is refused', () => {
  for (const text of [
    '',
    ' ',
    '{',
    '{"a":1,}',
    '[1,]',
    '[,1]',
    "{'a':1}",
    '{a:1}',
    '{"a" 1}',
    '{"a":1 "b":2}',
    '{"a":01}',
    '{"a":+1}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":1e}',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":undefined}',
    '{"a":tru}',
    '{"a":"tab\there"}',
    '{"a":"new\nline"}',
    '{"a":"\\x41"}',
    '{"a":"\\u12"}',
    '{"a":"\\u12G4"}',
    '{"a":"unterminated}',
    '{} {}',
    '{}x',
    '/* comment */ {}',
    '\ufeff{}',
    '{"a":1}\u00a0',
  ]) {
    rejects(text);
  }
});

void test('length and depth are bounded', () => {
  rejects(`"${'x'.repeat(100)}"`, /too long/, { maxLength: 50, maxDepth: 4 });
  assert.ok(parseStrictJson(`"${'x'.repeat(48)}"`, { maxLength: 50, maxDepth: 4 }).ok);
  const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
  assert.ok(parseStrictJson(nested(4), { maxLength: 50, maxDepth: 4 }).ok);
  rejects(nested(5), /nested too deeply/, { maxLength: 50, maxDepth: 4 });
  rejects('{"a":{"b":{"c":{"d":{}}}}}', /nested too deeply/, { maxLength: 50, maxDepth: 4 });
  // Deep input within the length limit cannot exhaust the stack.
  rejects(nested(50_000), /nested too deeply/, { maxLength: 100_000, maxDepth: 64 });
});
