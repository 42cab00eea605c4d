/** The per-address failure limiter on its own, with a controlled clock: windows, blocks, the memory cap. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailureLimiter } from '../../src/service/auth-guard.js';

const CONFIG = { maxFailures: 3, windowSeconds: 10, blockSeconds: 60, maxTrackedAddresses: 100 };

void describe('auth failure limiter', () => {
  void test('maxFailures per window pass; the next is blocked for blockSeconds; then counting restarts', () => {
    let now = 1_000_000;
    const limiter = new AuthFailureLimiter(CONFIG, () => now);
    for (let i = 0; i < 3; i += 1) assert.equal(limiter.fail('a'), undefined);
    assert.equal(limiter.fail('a'), 60);
    now += 30_500;
    assert.equal(limiter.fail('a'), 30, 'seconds left, rounded up');
    assert.equal(limiter.fail('b'), undefined, 'other addresses are not affected');
    now += 30_000;
    for (let i = 0; i < 3; i += 1) assert.equal(limiter.fail('a'), undefined);
  });

  void test('failures spread over windows never block', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(CONFIG, () => now);
    for (let i = 0; i < 20; i += 1) {
      assert.equal(limiter.fail('a'), undefined);
      now += 4_000; // 2-3 failures per 10 s window
    }
  });

  void test('memory is bounded: past maxTrackedAddresses the least recently failed address is forgotten', () => {
    const limiter = new AuthFailureLimiter(CONFIG, () => 0);
    for (let i = 0; i < 4; i += 1) limiter.fail('first');
    assert.ok(limiter.fail('first') !== undefined);
    for (let i = 0; i < 10_000; i += 1) limiter.fail(`198.51.${i >> 8}.${i & 255}`);
    assert.equal(limiter.tracked, 100);
    assert.equal(limiter.fail('first'), undefined, 'evicted: starts again');
  });
});
