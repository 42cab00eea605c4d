/**
 * parseAuditRecordText: the log's own canonical texts parse back to their fields; anything but the one
 * canonical spelling (arity, domain, types, whitespace, escapes, number forms) is ERR_PROOF_INVALID; and
 * no input, however random, throws anything else.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalAuditText, GENESIS_HASH, type HashedFields } from '../../src/audit/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { parseAuditRecordText } from '../../src/transparency/index.js';

const refused = (input: string | Uint8Array, message?: RegExp): void => {
  assert.throws(
    () => parseAuditRecordText(input),
    (e: unknown) => {
      assert.ok(isDkeError(e, 'ERR_PROOF_INVALID'), `expected ERR_PROOF_INVALID, got ${String(e)}`);
      if (message !== undefined) assert.match(e.message, message);
      return true;
    },
  );
};

/** docs/audit.md's example record. */
const EXAMPLE: HashedFields = {
  seq: 1,
  time: '2025-01-01T00:00:00.000Z',
  prevHash: GENESIS_HASH,
  action: 'native.unwrap',
  result: 'allowed',
  reason: null,
  issuer: 'https://login.example.com/t/v2.0',
  subject: 'alice-sub',
  userName: 'alice@example.com',
  keyName: 'finance',
  keyVersion: 2,
  keyId: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  objectId: 'AQEBAQEBAQEBAQEBAQEBAQ',
  clientAddress: '192.0.2.1',
  requestId: 'req-1',
};
const TEXT = canonicalAuditText(EXAMPLE);

describe('parseAuditRecordText', () => {
  test('the documented example parses to its fields, from text and from UTF-8 bytes', () => {
    assert.deepEqual({ ...parseAuditRecordText(TEXT) }, { ...EXAMPLE });
    assert.deepEqual({ ...parseAuditRecordText(Buffer.from(TEXT)) }, { ...EXAMPLE });
    const sparse: HashedFields = {
      ...EXAMPLE,
      seq: 9_007_199_254_740_991,
      result: 'ok',
      action: 'key.create',
      issuer: null,
      subject: null,
      userName: null,
      keyVersion: null,
      keyId: null,
      objectId: null,
      clientAddress: null,
      requestId: null,
    };
    assert.deepEqual({ ...parseAuditRecordText(canonicalAuditText(sparse)) }, { ...sparse });
    const awkward = { ...EXAMPLE, subject: 'é "q" \\ \n\t\u0001 \u2028 / \u007f 😀 \ufffd', keyVersion: 0 };
    assert.deepEqual({ ...parseAuditRecordText(canonicalAuditText(awkward)) }, { ...awkward });
  });

  test('non-canonical spellings of the same values are refused', () => {
    const canonical = /not in canonical form/;
    refused(TEXT.replace(',', ', '), canonical);
    refused(` ${TEXT}`, canonical);
    refused(`${TEXT}\n`, canonical);
    refused(TEXT.replace('"opendke.audit.v1",1,', '"opendke.audit.v1",1.0,'), canonical);
    refused(TEXT.replace('"opendke.audit.v1",1,', '"opendke.audit.v1",1e0,'), canonical);
    refused(TEXT.replace(',2,', ',2.0,'), canonical);
    refused(TEXT.replace('alice-sub', '\\u0061lice-sub'), canonical);
    refused(TEXT.replace('https://login', 'https:\\/\\/login'), canonical);
    refused(TEXT.replace('"finance"', '"fin\\u00e9"'), canonical);
    refused(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(TEXT)]));
  });

  test('wrong arity, domain and types are refused, each with its own message', () => {
    const array = JSON.parse(TEXT) as unknown[];
    const variant = (k: number, value: unknown): string =>
      JSON.stringify(array.map((v, i) => (i === k ? value : v)));
    refused(JSON.stringify(array.slice(0, 15)), /16 members/);
    refused(JSON.stringify([...array, null]), /16 members/);
    refused(JSON.stringify({ seq: 1 }), /not a JSON array/);
    refused('[', /not JSON/);
    refused(variant(0, 'opendke.audit.v2'), /opendke\.audit\.v1/);
    refused(variant(1, 0), /seq/);
    refused(variant(1, -1), /seq/);
    refused(variant(1, '1'), /seq/);
    refused(variant(1, 2 ** 53), /seq/);
    refused(variant(1, 1.5), /seq/);
    refused(variant(2, '2025-01-01T00:00:00Z'), /time/);
    refused(variant(2, '2025-13-01T00:00:00.000Z'), /time/);
    refused(variant(2, null), /time/);
    refused(variant(3, 'A'.repeat(64)), /prevHash/);
    refused(variant(3, null), /prevHash/);
    refused(variant(4, ''), /action/);
    refused(variant(4, null), /action/);
    refused(variant(5, 'maybe'), /result/);
    refused(variant(6, 5), /reason/);
    refused(variant(8, ['alice']), /subject/);
    refused(variant(8, '\ud800'), /subject/);
    refused(variant(11, -1), /keyVersion/);
    refused(variant(11, '2'), /keyVersion/);
    refused(variant(12, false), /keyId/);
    refused(variant(15, {}), /requestId/);
    refused(Buffer.from([0x5b, 0xff, 0x5d]), /UTF-8/);
    refused(`["opendke.audit.v1",1,"${'x'.repeat(70_000)}"]`, /too large/);
  });

  test('fuzz: random and mutated texts either parse to a record that re-serializes to them, or are refused', () => {
    const mutate = (text: string, at: number, insert: string, drop: number): string =>
      text.slice(0, at % (text.length + 1)) + insert + text.slice((at % (text.length + 1)) + drop);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc
            .tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 4 }), fc.nat({ max: 3 }))
            .map(([at, insert, drop]) => mutate(TEXT, at, insert, drop)),
          fc.json().map((j) => `["opendke.audit.v1",${j}]`),
        ),
        (input) => {
          let fields;
          try {
            fields = parseAuditRecordText(input);
          } catch (error) {
            assert.ok(isDkeError(error, 'ERR_PROOF_INVALID'), String(error));
            return;
          }
          assert.equal(canonicalAuditText(fields), input, 'only canonical text is accepted');
        },
      ),
      { numRuns: 3000 },
    );
  });
});
