import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditLeafHash, chainAndLeafHash, sha256Hex } from '../../src/audit/index.js';
import { referenceLeaf } from '../support/mth.js';

void test('chainAndLeafHash and auditLeafHash equal the chain hash and the RFC 6962 leaf of the UTF-8 text, at every length', () => {
  const texts = [
    '',
    '["opendke.audit.v1",1]',
    'ümlaut 中文 😀 \ufffd \u2028',
    'x'.repeat(5460),
    'é'.repeat(9000), // longer than the reused buffer: it grows
    '中'.repeat(6000),
    'short again after the long ones',
  ];
  for (const text of texts) {
    const [chain, leaf] = chainAndLeafHash(text);
    assert.equal(chain, sha256Hex(text), `chain hash, ${text.length} chars`);
    assert.deepEqual(leaf, referenceLeaf(Buffer.from(text, 'utf8')), `leaf hash, ${text.length} chars`);
    assert.deepEqual(auditLeafHash(text), leaf);
  }
  const [, first] = chainAndLeafHash('a');
  const copy = Buffer.from(first);
  chainAndLeafHash('b');
  assert.deepEqual(first, copy, 'a returned leaf is not overwritten by the next call');
});
