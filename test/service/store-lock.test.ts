/**
 * A locked store must not freeze the service (issue 9 item 6). A real second process holds the SQLite write
 * lock on the server's file, as `dke key ...` or a backup would; meanwhile /healthz answers at once and says
 * the store is locked, the event loop keeps turning, and an unwrap either succeeds after the lock is
 * released (with its audit record) or fails 503 quickly. No acknowledged unwrap lacks its record.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { startHarness, type Harness, type HttpAnswer } from './harness.js';
import { assertError } from './assertions.js';
import { auditRecords, verifyAudit } from './audit-reader.js';

const ALICE = 'alice@example.test';
const LOCK_HOLDER = fileURLToPath(new URL('../support/lock-holder.js', import.meta.url));

interface HeldLock {
  /** Resolves once the other process committed and let go. */
  readonly released: Promise<void>;
}

/** Starts the second process and resolves once it holds the write lock. */
function holdLock(db: string, mode: 'immediate' | 'exclusive', holdMs: number): Promise<HeldLock> {
  const child = spawn(process.execPath, [LOCK_HOLDER, db, mode, String(holdMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const seen = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(word)) resolve();
      };
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        check();
      });
      child.on('exit', (code) =>
        out.includes(word) ? resolve() : reject(new Error(`lock holder exited ${code}`)),
      );
    });
  const released = seen('released');
  return seen('locked').then(() => ({ released }));
}

/** The largest gap between 10 ms timer ticks while it runs: how long the event loop was blocked. */
function loopMonitor(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return worst;
    },
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

function startedServer(lockWaitMs: number) {
  return startHarness({ store: { lockWaitMs } });
}

describe('a store locked by another process', () => {
  for (const [label, lockWaitMs, expect] of [
    ['unwraps wait without blocking and succeed after the lock is released', 6000, 200],
    ['unwraps fail 503 quickly when the lock outlasts store.lockWaitMs', 400, 503],
  ] as const) {
    describe(label, () => {
      let h: Harness;
      let alice: string;
      before(async () => {
        h = await startedServer(lockWaitMs);
        alice = await h.token({ upn: ALICE });
        const admin = await h.adminToken();
        const created = await h.request('POST', '/admin/keys', {
          token: admin,
          body: { name: 'docs', spec: 'P-256', policy: { users: [ALICE] } },
        });
        assert.equal(created.status, 201, created.text);
      });
      after(() => h.close());

      it('healthz answers within milliseconds and reports the lock; the event loop keeps turning', async (t) => {
        const published = await h.request('GET', '/keys/docs');
        const objectId = randomBytes(16);
        const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
          objectId,
          keyId: published.json?.keyId as string,
        });

        const lock = await holdLock(h.config.store.database, 'immediate', 2500);
        const monitor = loopMonitor();
        const unwrap = timed(() =>
          h.request('POST', '/keys/docs/unwrap', { token: alice, body: { stanza } }),
        );
        const health: { value: HttpAnswer; ms: number }[] = [];
        for (let i = 0; i < 5; i += 1) {
          health.push(await timed(() => h.request('GET', '/healthz')));
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
        // Reads do not need the write lock (WAL).
        const read = await timed(() => h.request('GET', '/keys/docs'));
        const { value: answer, ms: unwrapMs } = await unwrap;
        const worstGap = monitor.stop();
        await lock.released;

        const latencies = health.map(({ ms }) => Math.round(ms));
        t.diagnostic(
          `healthz ${latencies.join('/')} ms, loop gap ${worstGap.toFixed(0)} ms, unwrap ${answer.status} in ${unwrapMs.toFixed(0)} ms`,
        );
        assert.ok(Math.max(...latencies) < 500, `healthz took ${latencies.join(', ')} ms while locked`);
        assert.ok(worstGap < 1000, `event loop blocked for ${worstGap.toFixed(0)} ms`);
        for (const { value } of health) {
          assert.equal(value.status, 200, value.text);
          assert.deepEqual(value.json, { status: 'degraded', store: 'locked' });
        }
        assert.equal(read.value.status, 200, read.value.text);
        assert.ok(read.ms < 500, `public key read took ${read.ms.toFixed(0)} ms`);

        const records = await auditRecords(h, { objectId: objectId.toString('base64url') });
        if (expect === 200) {
          assert.equal(answer.status, 200, answer.text);
          assert.equal(records.length, 1, 'the acknowledged unwrap has its audit record');
          assert.equal(records[0]?.result, 'allowed');
        } else {
          assertError(answer, 'ERR_AUDIT_UNAVAILABLE');
          assert.ok(unwrapMs < lockWaitMs + 1500, `503 took ${unwrapMs.toFixed(0)} ms`);
          assert.equal(records.length, 0);
        }
        assert.equal((await verifyAudit(h)).ok, true);

        const healthy = await h.request('GET', '/healthz');
        assert.deepEqual(healthy.json, { status: 'ok', store: 'ok' });
        // And the service works normally again.
        const again = await h.request('POST', '/keys/docs/unwrap', { token: alice, body: { stanza } });
        assert.equal(again.status, 200, again.text);
      });
    });
  }

  describe('BEGIN EXCLUSIVE in another process', () => {
    let h: Harness;
    before(async () => {
      h = await startedServer(300);
      const created = await h.request('POST', '/admin/keys', {
        token: await h.adminToken(),
        body: { name: 'docs', spec: 'P-256', policy: { users: [ALICE] } },
      });
      assert.equal(created.status, 201, created.text);
    });
    after(() => h.close());

    it('reads are still served; an admin change fails 503 quickly and changes nothing', async () => {
      const lock = await holdLock(h.config.store.database, 'exclusive', 1500);
      const read = await timed(() => h.request('GET', '/keys/docs'));
      const disable = await timed(async () =>
        h.request('POST', '/admin/keys/docs/disable', { token: await h.adminToken() }),
      );
      await lock.released;
      assert.equal(read.value.status, 200, read.value.text);
      assert.ok(read.ms < 500, `read took ${read.ms.toFixed(0)} ms`);
      assertError(disable.value, 'ERR_AUDIT_UNAVAILABLE');
      assert.ok(disable.ms < 1000, `503 took ${disable.ms.toFixed(0)} ms`);
      const key = await h.request('GET', '/admin/keys/docs', { token: await h.adminToken() });
      assert.equal(key.json?.state, 'enabled');
    });
  });
});
