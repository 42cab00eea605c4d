import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { CompactRange } from '../../src/transparency/compact-range.js';
import { emptyRoot } from '../../src/transparency/merkle.js';
import { referenceLeaf, referenceRoot } from '../support/mth.js';

void test('compact range: the root after every append equals the recursive RFC 6962 MTH (0..300 leaves)', () => {
  const range = new CompactRange();
  const leaves: Buffer[] = [];
  assert.equal(range.size, 0);
  assert.deepEqual(range.root(), emptyRoot());
  for (let i = 0; i < 300; i++) {
    const leaf = referenceLeaf(crypto.randomBytes(i % 40));
    leaves.push(leaf);
    range.append(leaf);
    assert.equal(range.size, i + 1);
    assert.deepEqual(range.root(), referenceRoot(leaves), `size ${i + 1}`);
  }
});

void test('compact range: keeps one hash per set bit of the size (O(log n) memory)', () => {
  const range = new CompactRange();
  const leaf = referenceLeaf(Buffer.from('x'));
  for (let i = 1; i <= 5000; i++) {
    range.append(leaf);
    const stored = (range as unknown as { hashes: Buffer[] }).hashes.length;
    assert.equal(stored, i.toString(2).replace(/0/g, '').length, `size ${i}`);
  }
});

void test('compact range: refuses anything but a 32-byte hash', () => {
  const range = new CompactRange();
  for (const bad of [
    Buffer.alloc(31),
    Buffer.alloc(33),
    'a'.repeat(32) as unknown as Buffer,
    undefined as unknown as Buffer,
  ]) {
    assert.throws(() => range.append(bad), TypeError);
  }
  assert.equal(range.size, 0);
});
