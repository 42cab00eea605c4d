/**
 * Identity comparison (issue 9 item 3, docs/policy.md "Comparing identities"): no character outside ASCII
 * may ever compare equal to an ASCII one, and `sub:` subjects compare exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAllowed, normalizePolicy } from '../../src/policy/evaluate.js';
import { comparableIdentity, comparableUserId } from '../../src/policy/identity.js';
import { EMPTY_POLICY, type KeyPolicy, type Principal } from '../../src/service/contracts.js';
import { isDkeError } from '../../src/errors/index.js';

function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    issuer: 'https://idp.example',
    subject: 'S',
    userIds: ['sub:S'],
    groups: [],
    roles: [],
    isAdmin: false,
    ...overrides,
  };
}

const policy = (overrides: Partial<KeyPolicy>): KeyPolicy => ({ ...EMPTY_POLICY, ...overrides });

/** Look-alikes of `kate@x.example` (or of a part of it) that Unicode case mapping or NFKC would fold. */
const CONFUSABLES: readonly [string, string][] = [
  ['KELVIN SIGN', '\u212Aate@x.example'],
  ['fullwidth letters', '\uFF4B\uFF41\uFF54\uFF45@x.example'],
  ['no-break space around', '\u00A0kate@x.example\u00A0'],
  ['ideographic space', '\u3000kate@x.example'],
  ['line separator', 'kate@x.example\u2028'],
  ['zero-width space', 'ka\u200Bte@x.example'],
  ['zero-width joiner', 'kate\u200D@x.example'],
  ['combining mark on an ASCII letter', 'ka\u0301te@x.example'],
  ['mathematical bold k', '\u{1D424}ate@x.example'],
];

for (const [name, claim] of CONFUSABLES) {
  test(`confusable (${name}) does not match the ASCII policy entry`, () => {
    const who = principal({ userIds: ['sub:S', claim], groups: [claim], roles: [claim] });
    assert.equal(isAllowed(policy({ users: ['kate@x.example'] }), who), false);
    assert.equal(isAllowed(policy({ users: ['KATE@X.EXAMPLE'] }), who), false);
    assert.equal(isAllowed(policy({ groups: ['kate@x.example'] }), who), false);
    assert.equal(isAllowed(policy({ roles: ['kate@x.example'] }), who), false);
    // ... and the look-alike as a policy entry does not match the ASCII identity either.
    const ascii = principal({ userIds: ['sub:S', 'kate@x.example'], groups: ['kate@x.example'] });
    assert.equal(isAllowed(policy({ users: [claim] }), ascii), false);
    assert.equal(isAllowed(policy({ groups: [claim] }), ascii), false);
  });
}

test('long s, dotless i, dotted I and ligatures do not fold onto ASCII', () => {
  const cases: [string, string][] = [
    ['\u017Fam@x', 'sam@x'], // LATIN SMALL LETTER LONG S: upper-cases to S
    ['\u0131van@x', 'ivan@x'], // dotless i: upper-cases to I
    ['\u0130van@x', 'ivan@x'], // dotted I: lower-cases to i + U+0307
    ['o\uFB00ice@x', 'office@x'], // ff ligature
    ['\uFB01le@x', 'file@x'], // fi ligature
  ];
  for (const [claim, entry] of cases) {
    for (const e of [entry, entry.toUpperCase()]) {
      assert.equal(
        isAllowed(policy({ users: [e] }), principal({ userIds: [claim] })),
        false,
        `${claim} vs ${e}`,
      );
    }
  }
});

test('exhaustive: no single code point outside ASCII compares equal to an ASCII string', () => {
  for (let cp = 0x80; cp <= 0x10ffff; cp += 1) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    for (const value of [ch, `a${ch}b`]) {
      const form = comparableIdentity(value);
      // Either the value matches nothing, or its comparison form still holds a non-ASCII character.
      assert.ok(form === undefined || /[^\u0020-\u007e]/.test(form), `U+${cp.toString(16)}`);
    }
    // The same holds through isAllowed for every character NFKC would turn into ASCII.
    const nfkc = ch.normalize('NFKC');
    if (/^[\u0020-\u007e]+$/.test(nfkc) && nfkc.trim() !== '') {
      assert.equal(
        isAllowed(policy({ users: [`${nfkc}x`] }), principal({ userIds: [`${ch}x`] })),
        false,
        `U+${cp.toString(16)}`,
      );
    }
  }
});

test('ASCII case folding only: non-ASCII letters are case-sensitive', () => {
  assert.equal(isAllowed(policy({ users: ['jos\u00E9@x'] }), principal({ userIds: ['JOS\u00E9@x'] })), true);
  assert.equal(isAllowed(policy({ users: ['jos\u00E9@x'] }), principal({ userIds: ['JOS\u00C9@x'] })), false);
  // A precomposed é and e + COMBINING ACUTE are not the same entry: the decomposed one is not NFKC.
  assert.equal(
    isAllowed(policy({ users: ['jos\u00E9@x'] }), principal({ userIds: ['jose\u0301@x'] })),
    false,
  );
});

test('sub: entries: prefix case-insensitive, subject exact', () => {
  const who = principal({ subject: 'AbC-9', userIds: ['sub:AbC-9'] });
  assert.equal(isAllowed(policy({ users: ['sub:AbC-9'] }), who), true);
  assert.equal(isAllowed(policy({ users: ['SUB:AbC-9'] }), who), true);
  assert.equal(isAllowed(policy({ users: [' Sub:AbC-9 '] }), who), true);
  assert.equal(isAllowed(policy({ users: ['sub:abc-9'] }), who), false);
  assert.equal(isAllowed(policy({ users: ['sub:ABC-9'] }), who), false);
  assert.equal(isAllowed(policy({ users: ['sub: AbC-9'] }), who), false, 'no trimming inside');
  const lower = principal({ subject: 'abc-9', userIds: ['sub:abc-9'] });
  assert.equal(isAllowed(policy({ users: ['sub:AbC-9'] }), lower), false);
  assert.equal(comparableUserId('SUB:AbC'), 'sub:AbC');
});

test('normalizePolicy keeps sub: subjects exactly and folds only A-Z elsewhere', () => {
  assert.deepEqual(
    normalizePolicy({
      users: ['SUB:AbC-9', 'sub:AbC-9', 'sub:abc-9', 'Alice@X.example', 'JOS\u00C9@x', 'oid:ABC'],
      groups: ['\u0130stanbul', '\u0131zmir'],
    }),
    {
      users: ['sub:AbC-9', 'sub:abc-9', 'alice@x.example', 'jos\u00C9@x', 'oid:abc'],
      groups: ['\u0130stanbul', '\u0131zmir'],
      roles: [],
      tenants: [],
    },
  );
});

test('normalizePolicy refuses look-alike entries with ERR_BAD_REQUEST naming the field', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ users: ['\u212Aate@x.example'] }, /policy\.users\[0\] must be in Unicode NFKC form/],
    [{ users: ['ok', '\uFF4Bate'] }, /policy\.users\[1\] must be in Unicode NFKC form/],
    [{ groups: ['o\uFB00ice'] }, /policy\.groups\[0\] must be in Unicode NFKC form/],
    [{ roles: ['\u017Fam'] }, /policy\.roles\[0\] must be in Unicode NFKC form/],
    [{ tenants: ['\u00A0tenant'] }, /policy\.tenants\[0\] must be in Unicode NFKC form/],
    [{ users: ['jose\u0301@x'] }, /policy\.users\[0\] must be in Unicode NFKC form/],
    [{ users: ['ka\u200Bte@x'] }, /policy\.users\[0\] must not contain invisible/],
    [{ users: ['sub:a\u200Bb'] }, /policy\.users\[0\] must not contain invisible/],
    [{ groups: ['a\u2028b'] }, /policy\.groups\[0\] must not contain invisible/],
    [{ groups: ['a\u0085b'] }, /policy\.groups\[0\] must not contain control characters/],
    [{ users: ['sub:'] }, /policy\.users\[0\] must not be blank/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => normalizePolicy(input),
      (error: unknown) => isDkeError(error, 'ERR_BAD_REQUEST') && message.test(error.message),
      JSON.stringify(input),
    );
  }
  // A subject is compared exactly, so a non-NFKC subject is no look-alike risk and is accepted as written.
  assert.deepEqual(normalizePolicy({ users: ['sub:\uFF4B'] }).users, ['sub:\uFF4B']);
});

test('tenants: issuer URL entries match only the issuer, tenant ids only the established tenant', () => {
  const who = principal({ issuer: 'https://idp.example/t1', tenant: 't1' });
  assert.equal(isAllowed(policy({ tenants: ['https://idp.example/t1'] }), who), true);
  assert.equal(isAllowed(policy({ tenants: ['t1'] }), who), true);
  assert.equal(isAllowed(policy({ tenants: ['https://idp.example/t1/'] }), who), false, 'exact issuer');
  assert.equal(isAllowed(policy({ tenants: ['https://idp.example'] }), who), false, 'no prefix match');
  // A tenant that looks like an issuer URL (it cannot be established so, but isAllowed must not care).
  const odd = principal({ issuer: 'https://a.example', tenant: 'https://b.example' });
  assert.equal(isAllowed(policy({ tenants: ['https://b.example'] }), odd), false);
  const noTenant = principal({ issuer: 'https://a.example' });
  assert.equal(isAllowed(policy({ tenants: ['https://a.example'] }), noTenant), true);
  assert.equal(isAllowed(policy({ tenants: ['t1'] }), noTenant), false);
});
