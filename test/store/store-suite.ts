/**
 * The storage adapter contract as tests (docs/storage.md). Every backend runs this same suite:
 *   runStoreSuite('sqlite', () => ({ open: async () => openSqliteStore(file), cleanup: async () => rm(dir) }))
 * `open` may be called again after `close()` and must reopen the same data (restart tests). Backend-neutral:
 * tests that need a backend's own tools (a second SQLite connection holding the lock) live with the backend.
 */
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isDkeError, type ErrorCode } from '../../src/errors/index.js';
import type {
  AuditRow,
  AuditTail,
  DkeStore,
  KeyRecord,
  KeyVersionRecord,
  NewKeyVersion,
  RevokedObject,
} from '../../src/store/index.js';
import type { KeyState } from '../../src/service/contracts.js';
import { canonicalAuditText } from '../../src/audit/index.js';
import { emptyRoot, verifyConsistency, verifyInclusion } from '../../src/transparency/merkle.js';
import {
  consistencyProofPlan,
  inclusionProofPlan,
  rootPlan,
  type ProofPlan,
} from '../../src/transparency/proof-plan.js';
import { collect } from '../support/collect.js';
import { recordLeaf, referenceRoot } from '../support/mth.js';
import { registerActivityCases } from './activity-cases.js';
import { T0, auditRow, chainedRows } from './audit-rows.js';

export { auditRow };

/** A small deterministic PRNG (mulberry32), so a failing batch pattern can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface StoreFixture {
  open(): Promise<DkeStore>;
  cleanup(): Promise<void>;
}

const T1 = '2025-01-02T00:00:00.000Z';

export function version(keyId: string, sealed = Buffer.from(`sealed:${keyId}`)): NewKeyVersion {
  return {
    keyId,
    spec: 'P-256',
    publicJwk: JSON.stringify({ kty: 'EC', kid: keyId }),
    sealedPrivateKey: sealed,
    createdAt: T0,
  };
}

async function rejectsCode(fn: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(fn, (error: unknown) => isDkeError(error, code));
}

/** A native key `name` with version 1 `keyId`, no cache period, created at T0. */
function createNative(store: DkeStore, name: string, keyId: string): Promise<void> {
  return store.createKey({ name, protocol: 'native', cacheSeconds: null, createdAt: T0 }, version(keyId));
}

export function runStoreSuite(backend: string, makeStore: () => StoreFixture): void {
  void describe(`store contract: ${backend}`, () => {
    let fixture: StoreFixture | undefined;
    let opened: DkeStore[] = [];
    const open = async (): Promise<DkeStore> => {
      fixture ??= makeStore();
      const store = await fixture.open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened) await store.close();
      opened = [];
      await fixture?.cleanup();
      fixture = undefined;
    });

    registerActivityCases(open);

    void test('createKey stores the key with an empty policy and version 1', async () => {
      const store = await open();
      await store.createKey(
        { name: 'k1', protocol: 'native', cacheSeconds: 60, createdAt: T0 },
        version('kid-1'),
      );
      const key = await store.getKey('k1');
      assert.deepEqual(key, {
        name: 'k1',
        protocol: 'native',
        state: 'enabled',
        activeVersion: 1,
        cacheSeconds: 60,
        policy: { users: [], groups: [], roles: [], tenants: [] },
        createdAt: T0,
        updatedAt: T0,
      });
      const versions = await store.listKeyVersions('k1');
      assert.equal(versions.length, 1);
      assert.equal(versions[0]?.version, 1);
      assert.equal(versions[0]?.keyId, 'kid-1');
      assert.deepEqual(versions[0]?.sealedPrivateKey, Buffer.from('sealed:kid-1'));
      assert.equal(versions[0]?.destroyedAt, null);
      assert.equal(await store.getKey('K1'), undefined, 'names are case-sensitive');
    });

    void test('createKey refuses a taken name and a key id stored under another key', async () => {
      const store = await open();
      await createNative(store, 'a', 'kid-a');
      await rejectsCode(
        () =>
          store.createKey(
            { name: 'a', protocol: 'ms-dke', cacheSeconds: null, createdAt: T0 },
            version('kid-x'),
          ),
        'ERR_KEY_EXISTS',
      );
      await rejectsCode(
        () =>
          store.createKey(
            { name: 'b', protocol: 'native', cacheSeconds: null, createdAt: T0 },
            version('kid-a'),
          ),
        'ERR_KEY_EXISTS',
      );
      assert.equal(await store.getKey('b'), undefined, 'nothing of the refused key is stored');
      assert.equal((await store.getKey('a'))?.protocol, 'native');
    });

    void test('addKeyVersion numbers versions, activates the new one, and rolls back when build throws', async () => {
      const store = await open();
      await createNative(store, 'k', 'v1');
      const seen: number[] = [];
      const added = await store.addKeyVersion('k', (v) => {
        seen.push(v);
        return version('v2');
      });
      assert.deepEqual(seen, [2]);
      assert.equal(added.version, 2);
      assert.equal((await store.getKey('k'))?.activeVersion, 2);
      await assert.rejects(() =>
        store.addKeyVersion('k', () => {
          throw new Error('boom');
        }),
      );
      assert.equal((await store.listKeyVersions('k')).length, 2);
      await rejectsCode(() => store.addKeyVersion('k', () => version('v1')), 'ERR_KEY_EXISTS');
      assert.equal((await store.getKey('k'))?.activeVersion, 2);
      await rejectsCode(() => store.addKeyVersion('nope', () => version('v9')), 'ERR_KEY_NOT_FOUND');
    });

    void test('getKeyVersion finds a key id only under its own key', async () => {
      const store = await open();
      await createNative(store, 'a', 'kid-a');
      await createNative(store, 'b', 'kid-b');
      assert.equal((await store.getKeyVersion('a', 'kid-a'))?.keyName, 'a');
      assert.equal(await store.getKeyVersion('a', 'kid-b'), undefined);
      assert.equal(await store.getKeyVersion('b', 'kid-a'), undefined);
    });

    void test('updateKey changes one key only and refuses unknown and destroyed keys', async () => {
      const store = await open();
      await createNative(store, 'a', 'kid-a');
      await createNative(store, 'b', 'kid-b');
      const policy = { users: ['alice@example.com'], groups: [], roles: ['reader'], tenants: [] };
      await store.updateKey('a', { state: 'disabled', cacheSeconds: 300, policy, updatedAt: T1 });
      assert.deepEqual(await store.getKey('a'), {
        ...(await store.getKey('a')),
        state: 'disabled',
        cacheSeconds: 300,
        policy,
        updatedAt: T1,
      });
      assert.deepEqual((await store.getKey('b'))?.policy, { users: [], groups: [], roles: [], tenants: [] });
      assert.equal((await store.getKey('b'))?.state, 'enabled');
      await store.updateKey('a', { cacheSeconds: null, updatedAt: T1 });
      assert.equal((await store.getKey('a'))?.cacheSeconds, null);
      await rejectsCode(
        () => store.updateKey('nope', { state: 'enabled', updatedAt: T1 }),
        'ERR_KEY_NOT_FOUND',
      );
      await store.destroyKey('a', T1);
      await rejectsCode(() => store.updateKey('a', { state: 'enabled', updatedAt: T1 }), 'ERR_KEY_DESTROYED');
    });

    void test('destroyKey removes the sealed material of every version and leaves a tombstone', async () => {
      const store = await open();
      await createNative(store, 'k', 'v1');
      await store.addKeyVersion('k', () => version('v2'));
      await store.destroyKey('k', T1);
      assert.equal((await store.getKey('k'))?.state, 'destroyed');
      for (const v of await store.listKeyVersions('k')) {
        assert.equal(v.sealedPrivateKey, null);
        assert.equal(v.destroyedAt, T1);
      }
      await store.destroyKey('k', '2030-01-01T00:00:00.000Z');
      assert.equal(
        (await store.listKeyVersions('k'))[0]?.destroyedAt,
        T1,
        'destroying again changes nothing',
      );
      await rejectsCode(() => store.addKeyVersion('k', () => version('v3')), 'ERR_KEY_DESTROYED');
      await rejectsCode(
        () =>
          store.createKey(
            { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: T1 },
            version('v4'),
          ),
        'ERR_KEY_EXISTS',
      );
      await rejectsCode(
        () =>
          store.createKey(
            { name: 'x', protocol: 'native', cacheSeconds: null, createdAt: T1 },
            version('v1'),
          ),
        'ERR_KEY_EXISTS',
      );
      await rejectsCode(() => store.destroyKey('nope', T1), 'ERR_KEY_NOT_FOUND');
    });

    void test('object revocation is per key and per object', async () => {
      const store = await open();
      await createNative(store, 'a', 'kid-a');
      await createNative(store, 'b', 'kid-b');
      assert.equal(await store.revokeObject('a', 'obj1', T0), true);
      assert.equal(await store.revokeObject('a', 'obj1', T1), false);
      assert.equal(await store.isObjectRevoked('a', 'obj1'), true);
      assert.equal(await store.isObjectRevoked('a', 'obj2'), false);
      assert.equal(await store.isObjectRevoked('b', 'obj1'), false);
      assert.equal(await store.isObjectRevoked('nope', 'obj1'), false);
      assert.deepEqual(await store.listRevokedObjects('a'), [{ objectId: 'obj1', revokedAt: T0 }]);
      assert.equal(await store.unrevokeObject('a', 'obj1'), true);
      assert.equal(await store.unrevokeObject('a', 'obj1'), false);
      assert.equal(await store.isObjectRevoked('a', 'obj1'), false);
      await rejectsCode(() => store.revokeObject('nope', 'obj1', T0), 'ERR_KEY_NOT_FOUND');
    });

    void test('setMetaIfAbsent keeps the first value', async () => {
      const store = await open();
      assert.equal(await store.getMeta('m'), undefined);
      assert.equal(await store.setMetaIfAbsent('m', 'first'), 'first');
      assert.equal(await store.setMetaIfAbsent('m', 'second'), 'first');
      assert.equal(await store.getMeta('m'), 'first');
    });

    void test('compareAndSetWitnessedLog moves a log forward only from the stored size', async () => {
      const store = await open();
      const rootA = Buffer.alloc(32, 0xa1);
      const rootB = Buffer.alloc(32, 0xb2);
      assert.equal(await store.getWitnessedLog('example.com/log'), undefined);
      assert.equal(
        await store.compareAndSetWitnessedLog('example.com/log', 1n, 5n, rootA, T0),
        false,
        'absent is 0',
      );
      assert.equal(await store.getWitnessedLog('example.com/log'), undefined);
      assert.equal(await store.compareAndSetWitnessedLog('example.com/log', 0n, 5n, rootA, T0), true);
      assert.equal(
        await store.compareAndSetWitnessedLog('example.com/log', 0n, 7n, rootB, T1),
        false,
        'stale',
      );
      assert.deepEqual(await store.getWitnessedLog('example.com/log'), {
        origin: 'example.com/log',
        size: 5n,
        root: rootA,
        updatedAt: T0,
      });
      const huge = 2n ** 63n - 1n;
      assert.equal(await store.compareAndSetWitnessedLog('example.com/log', 5n, huge, rootB, T1), true);
      assert.equal(
        (await store.getWitnessedLog('example.com/log'))?.size,
        huge,
        'no rounding through number',
      );
      assert.equal(await store.getWitnessedLog('other.example/log'), undefined, 'per origin');
    });

    void test('appendAuditRows passes the tail inside the transaction and rolls back a failed build', async () => {
      const store = await open();
      assert.equal(await store.auditTail(), undefined);
      const tails: (AuditTail | undefined)[] = [];
      const firstBatch = await store.appendAuditRows((tail) => {
        tails.push(tail);
        const first = auditRow(tail, { keyName: 'a', subject: 'alice' });
        return [
          first,
          auditRow({ seq: first.seq, hash: first.hash }, { keyName: 'b', userName: 'bob@example.com' }),
        ];
      });
      await store.appendAuditRows((tail) => {
        tails.push(tail);
        return [auditRow(tail, { objectId: 'o1', time: T1, keyVersion: 3 })];
      });
      assert.deepEqual(tails, [undefined, { seq: 2, hash: firstBatch[1]?.hash }]);
      await assert.rejects(() =>
        store.appendAuditRows(() => {
          throw new Error('boom');
        }),
      );
      assert.equal((await store.auditTail())?.seq, 3);
      const all = (await store.queryAuditRows({ limit: 10 })).reverse();
      assert.deepEqual(all[0], firstBatch[0]);
      assert.deepEqual(
        all.map((r) => r.seq),
        [1, 2, 3],
      );
      assert.equal(all[2]?.keyVersion, 3);
      assert.equal(all[0]?.reason, null);
    });

    void test('appendAuditRows refuses a row that repeats a seq', async () => {
      const store = await open();
      await store.appendAuditRows((tail) => [auditRow(tail)]);
      await assert.rejects(() => store.appendAuditRows(() => [auditRow(undefined)]));
      assert.equal((await collect(store.iterateAuditChain())).length, 1);
    });

    void test('iterateAuditChain streams every record in seq order with its canonical text', async () => {
      const store = await open();
      const tricky = [
        'plain',
        '',
        'quote " backslash \\ slash /',
        'ctl \u0000\u0001\b\f\n\r\t\u001f\u007f',
        'sep \u2028\u2029',
        'ümlaut 中文 😀 \ufffd',
        '<script>&amp;',
      ];
      await store.appendAuditRows((tail) => {
        let last = tail;
        return tricky.map((text, i) => {
          const row = auditRow(last, {
            subject: text,
            reason: i % 2 === 0 ? null : text,
            keyVersion: i === 3 ? null : i * 1000,
          });
          last = { seq: row.seq, hash: row.hash };
          return row;
        });
      });
      const rows = (await store.queryAuditRows({ limit: 100 })).reverse();
      const links = await collect(store.iterateAuditChain());
      assert.equal(links.length, tricky.length);
      links.forEach(([hash, seq, prevHash, canonicalText], i) => {
        const row = rows[i] as AuditRow;
        assert.deepEqual([hash, seq, prevHash], [row.hash, row.seq, row.prevHash]);
        assert.equal(canonicalText, canonicalAuditText(row), `record ${seq}`);
      });
    });

    /** Appends `count` rows after the tail in one transaction; `fields(seq)` overrides. */
    const appendRows = (
      store: DkeStore,
      count: number,
      fields: (seq: number) => Partial<AuditRow> = (seq) => ({ requestId: `req-${seq}` }),
    ): Promise<readonly AuditRow[]> =>
      store.appendAuditRows((tail) => {
        let last = tail;
        return Array.from({ length: count }, () => {
          const row = auditRow(last, fields((last?.seq ?? 0) + 1));
          last = { seq: row.seq, hash: row.hash };
          return row;
        });
      });
    const rootOf = async (store: DkeStore, size: number): Promise<Buffer> => {
      if (size === 0) return emptyRoot();
      const plan = rootPlan(size);
      return plan.assemble(await store.readAuditTreeNodes(plan.nodes))[0] as Buffer;
    };
    const proofOf = async (store: DkeStore, plan: ProofPlan): Promise<Buffer[]> =>
      plan.assemble(plan.nodes.length === 0 ? [] : await store.readAuditTreeNodes(plan.nodes));

    void test('audit tree: appends in random batches keep the RFC 6962 root of every size, proofs verify', async () => {
      const store = await open();
      assert.equal(await store.auditTreeSize(), 0);
      const random = seeded(20251201);
      const leaves: Buffer[] = [];
      while (leaves.length < 100) {
        const count = Math.min(100 - leaves.length, 1 + Math.floor(random() * 9));
        const rows = await appendRows(store, count, (seq) => ({
          subject: `s${seq} ü`,
          keyVersion: seq % 3 === 0 ? null : seq,
        }));
        leaves.push(...rows.map(recordLeaf));
        assert.equal(await store.auditTreeSize(), leaves.length);
        assert.deepEqual(
          await rootOf(store, leaves.length),
          referenceRoot(leaves),
          `root after ${leaves.length}`,
        );
      }
      const roots = Array.from({ length: 101 }, (_, n) => referenceRoot(leaves.slice(0, n)));
      for (let n = 1; n <= 100; n++) {
        assert.deepEqual(await rootOf(store, n), roots[n], `root of the first ${n}`);
        for (let i = 0; i < n; i++) {
          const plan = inclusionProofPlan(i, n);
          verifyInclusion(i, n, leaves[i] as Buffer, await proofOf(store, plan), roots[n] as Buffer);
        }
        for (let m = 1; m <= n; m++) {
          const plan = consistencyProofPlan(m, n);
          verifyConsistency(m, n, await proofOf(store, plan), roots[m] as Buffer, roots[n] as Buffer);
        }
      }
    });

    void test('audit tree: a root or proof reads O(log n) nodes, also at 2^40 entries', () => {
      for (const size of [1_000, 1_000_000, 2 ** 40 - 1]) {
        const bound = 2 * Math.ceil(Math.log2(size + 1));
        for (const index of [0, 1, Math.floor(size / 3), size - 2, size - 1]) {
          assert.ok(inclusionProofPlan(index, size).nodes.length <= bound, `inclusion ${index}/${size}`);
          assert.ok(
            consistencyProofPlan(index + 1, size).nodes.length <= bound,
            `consistency ${index + 1}/${size}`,
          );
        }
        assert.ok(rootPlan(size).nodes.length <= Math.ceil(Math.log2(size + 1)));
      }
    });

    void test('audit tree: a failed batch leaves neither rows nor nodes', async () => {
      const store = await open();
      await appendRows(store, 3);
      const before = await rootOf(store, 3);
      // The second row's insert fails (no action) after the first row and its nodes went in.
      await assert.rejects(() =>
        store.appendAuditRows((tail) => {
          const first = auditRow(tail);
          return [first, auditRow(first, { action: null as unknown as string })];
        }),
      );
      // Two rows with one seq: refused before anything is written.
      await assert.rejects(() => store.appendAuditRows((tail) => [auditRow(tail), auditRow(tail)]));
      await assert.rejects(() =>
        store.appendAuditRows((tail) => {
          void tail;
          throw new Error('boom');
        }),
      );
      // A row that does not continue the sequence is refused before anything is written.
      await assert.rejects(() =>
        store.appendAuditRows((tail) => [auditRow({ seq: (tail?.seq ?? 0) + 1, hash: 'x' })]),
      );
      assert.equal(await store.auditTreeSize(), 3);
      assert.equal((await store.auditTail())?.seq, 3);
      assert.deepEqual(await rootOf(store, 3), before);
      await rejectsCode(() => store.readAuditTreeNodes([{ level: 0, index: 3 }]), 'ERR_AUDIT_UNAVAILABLE');
      const rows = await appendRows(store, 2);
      assert.deepEqual(
        rows.map((r) => r.seq),
        [4, 5],
      );
      assert.equal(await store.auditTreeSize(), 5);
    });

    void test('audit rows by seq and by request id (oldest first, limited)', async () => {
      const store = await open();
      await appendRows(store, 6, (seq) => ({ requestId: seq % 2 === 0 ? 'even' : `odd-${seq}` }));
      assert.deepEqual(
        (await store.findAuditRowsByRequestId('even', 10)).map((r) => r.seq),
        [2, 4, 6],
      );
      assert.deepEqual(
        (await store.findAuditRowsByRequestId('even', 2)).map((r) => r.seq),
        [2, 4],
      );
      assert.deepEqual(await store.findAuditRowsByRequestId('none', 10), []);
      assert.equal((await store.getAuditRow(3))?.requestId, 'odd-3');
      assert.equal(await store.getAuditRow(7), undefined);
    });

    void test('queryAuditRows filters, newest first, with a limit', async () => {
      const store = await open();
      await store.appendAuditRows((tail) =>
        chainedRows(
          [
            { keyName: 'a', subject: 'alice', objectId: 'o1', time: T0 },
            { keyName: 'b', subject: 'bob', userName: 'bob@example.com', objectId: 'o2', time: T0 },
            { keyName: 'a', subject: 'bob', userName: 'bob@example.com', objectId: 'o1', time: T1 },
          ],
          tail,
        ),
      );
      const seqs = (rows: AuditRow[]): number[] => rows.map((r) => r.seq);
      assert.deepEqual(seqs(await store.queryAuditRows({ limit: 10 })), [3, 2, 1]);
      assert.deepEqual(seqs(await store.queryAuditRows({ keyName: 'a', limit: 10 })), [3, 1]);
      assert.deepEqual(seqs(await store.queryAuditRows({ objectId: 'o2', limit: 10 })), [2]);
      assert.deepEqual(seqs(await store.queryAuditRows({ subject: 'bob', limit: 10 })), [3, 2]);
      assert.deepEqual(seqs(await store.queryAuditRows({ identity: 'BOB@example.com', limit: 10 })), [3, 2]);
      assert.deepEqual(seqs(await store.queryAuditRows({ identity: 'alice', limit: 10 })), [1]);
      assert.deepEqual(seqs(await store.queryAuditRows({ since: T1, limit: 10 })), [3]);
      assert.deepEqual(
        seqs(await store.queryAuditRows({ keyName: 'a', objectId: 'o1', subject: 'alice', limit: 10 })),
        [1],
      );
      assert.deepEqual(seqs(await store.queryAuditRows({ limit: 1 })), [3]);
    });

    void test('queryAuditRows: until (exclusive), action, result, and seq cursors both ways', async () => {
      const store = await open();
      const T2 = '2025-01-03T00:00:00.000Z';
      await store.appendAuditRows((tail) =>
        chainedRows(
          [
            { time: T0, keyName: 'a', result: 'allowed' },
            { time: T0, keyName: 'b', result: 'denied', reason: 'ERR_POLICY_DENIED' },
            { time: T1, keyName: 'a', action: 'admin.key.disable', result: 'ok' },
            { time: T1, keyName: 'a', result: 'denied', reason: 'ERR_KEY_DISABLED' },
            { time: T2, keyName: 'b', result: 'allowed' },
            { time: T2, keyName: 'a', result: 'failed', reason: 'ERR_INTERNAL' },
          ],
          tail,
        ),
      );
      const seqs = async (query: Omit<Parameters<DkeStore['queryAuditRows']>[0], 'limit'>, limit = 10) =>
        (await store.queryAuditRows({ ...query, limit })).map((r) => r.seq);
      assert.deepEqual(await seqs({ until: T1 }), [2, 1]);
      assert.deepEqual(await seqs({ since: T1, until: T2 }), [4, 3]);
      assert.deepEqual(await seqs({ until: T0 }), []);
      assert.deepEqual(await seqs({ result: 'denied' }), [4, 2]);
      assert.deepEqual(await seqs({ result: 'denied', keyName: 'a' }), [4]);
      assert.deepEqual(await seqs({ action: 'admin.key.disable' }), [3]);
      assert.deepEqual(await seqs({ action: 'native.unwrap', result: 'allowed' }), [5, 1]);
      // Paging back, newest first: each page starts below the last seq of the one before.
      assert.deepEqual(await seqs({}, 2), [6, 5]);
      assert.deepEqual(await seqs({ beforeSeq: 5 }, 2), [4, 3]);
      assert.deepEqual(await seqs({ beforeSeq: 3 }, 2), [2, 1]);
      assert.deepEqual(await seqs({ beforeSeq: 1 }, 2), []);
      assert.deepEqual(await seqs({ beforeSeq: 5, keyName: 'a' }, 10), [4, 3, 1]);
      // Following the log: after a cursor, OLDEST first, so the next read continues where this one ended.
      assert.deepEqual(await seqs({ afterSeq: 2 }, 2), [3, 4]);
      assert.deepEqual(await seqs({ afterSeq: 4 }, 2), [5, 6]);
      assert.deepEqual(await seqs({ afterSeq: 6 }, 2), []);
      assert.deepEqual(await seqs({ afterSeq: 0, result: 'allowed' }), [1, 5]);
      assert.deepEqual(await seqs({ afterSeq: 1, beforeSeq: 5 }), [2, 3, 4]);
      // Excluded actions (the console's "hide page reads"), with the other filters and cursors.
      assert.deepEqual(await seqs({ excludeActions: ['admin.key.disable'] }), [6, 5, 4, 2, 1]);
      assert.deepEqual(await seqs({ excludeActions: ['native.unwrap', 'admin.key.disable'] }), []);
      assert.deepEqual(await seqs({ excludeActions: ['native.unwrap'], keyName: 'a' }), [3]);
      assert.deepEqual(await seqs({ excludeActions: ['admin.key.disable'], afterSeq: 2 }, 2), [4, 5]);
      assert.deepEqual(await seqs({ excludeActions: [] }, 2), [6, 5]);
      await rejectsCode(
        () =>
          store.queryAuditRows({ excludeActions: Array.from({ length: 33 }, (_, i) => `a${i}`), limit: 1 }),
        'ERR_INTERNAL',
      );
    });

    void test('iterateAuditRows streams the records at or after a time, in seq order', async () => {
      const store = await open();
      await store.appendAuditRows((tail) =>
        // The third record's clock stepped back: a time filter, not a seq cut-off.
        chainedRows(
          [{ time: T0 }, { time: T1, subject: 'bob' }, { time: T0 }, { time: T1, keyName: 'a' }],
          tail,
        ),
      );
      assert.deepEqual(
        (await collect(store.iterateAuditRows())).map((r) => r.seq),
        [1, 2, 3, 4],
      );
      const after = await collect(store.iterateAuditRows(T1));
      assert.deepEqual(
        after.map((r) => r.seq),
        [2, 4],
      );
      assert.deepEqual(after[0], (await store.queryAuditRows({ subject: 'bob', limit: 1 }))[0]);
      assert.deepEqual(await collect(store.iterateAuditRows('2999-01-01T00:00:00.000Z')), []);
    });

    void test('security events: counts add up per window, address and reason; pruned by age and row cap', async () => {
      const store = await open();
      const row = (
        minute: number,
        clientAddress: string,
        reason: string,
        count: number,
      ): Parameters<DkeStore['recordSecurityEvents']>[0][number] => {
        const windowStart = new Date(Date.UTC(2025, 0, 1, 0, minute)).toISOString();
        const lastSeen = new Date(Date.UTC(2025, 0, 1, 0, minute, 30)).toISOString();
        return {
          windowStart,
          clientAddress,
          reason,
          issuer: '',
          subject: '',
          count,
          firstSeen: windowStart,
          lastSeen,
        };
      };
      const keepAll = { maxRows: 100, notBefore: '2000-01-01T00:00:00.000Z' };
      await store.recordSecurityEvents([row(0, '192.0.2.1', 'ERR_AUTH_INVALID', 3)], keepAll);
      await store.recordSecurityEvents(
        [row(0, '192.0.2.1', 'ERR_AUTH_INVALID', 2), row(0, '192.0.2.1', 'ERR_RATE_LIMITED', 7)],
        keepAll,
      );
      await store.recordSecurityEvents([row(1, '192.0.2.2', 'ERR_AUTH_MISSING', 1)], keepAll);
      const all = await store.querySecurityEvents({ limit: 100 });
      assert.deepEqual(
        all.map((e) => [e.clientAddress, e.reason, e.count]),
        [
          ['192.0.2.2', 'ERR_AUTH_MISSING', 1],
          ['192.0.2.1', 'ERR_AUTH_INVALID', 5],
          ['192.0.2.1', 'ERR_RATE_LIMITED', 7],
        ],
        'newest first, counts summed',
      );
      assert.deepEqual(
        await store.querySecurityEvents({
          clientAddress: '192.0.2.1',
          reason: 'ERR_AUTH_INVALID',
          limit: 10,
        }),
        [row(0, '192.0.2.1', 'ERR_AUTH_INVALID', 5)],
      );
      assert.equal(
        (await store.querySecurityEvents({ since: '2025-01-01T00:01:00.000Z', limit: 10 })).length,
        1,
      );
      assert.equal((await store.querySecurityEvents({ limit: 1 })).length, 1);

      // Age: rows last seen before notBefore go.
      await store.recordSecurityEvents([], { maxRows: 100, notBefore: '2025-01-01T00:01:00.000Z' });
      assert.deepEqual(
        (await store.querySecurityEvents({ limit: 100 })).map((e) => e.clientAddress),
        ['192.0.2.2'],
      );
      // Rows: only the newest maxRows stay.
      await store.recordSecurityEvents(
        Array.from({ length: 20 }, (_, i) => row(10 + i, `198.51.100.${i}`, 'ERR_AUTH_INVALID', 1)),
        { maxRows: 5, notBefore: '2000-01-01T00:00:00.000Z' },
      );
      assert.deepEqual(
        (await store.querySecurityEvents({ limit: 100 })).map((e) => e.clientAddress),
        [19, 18, 17, 16, 15].map((i) => `198.51.100.${i}`),
      );
      assert.equal(await store.auditTail(), undefined, 'security events are not audit records');
    });

    void test('security events: issuer and subject are part of the key and queryable; empty is unknown', async () => {
      const store = await open();
      const at = '2025-01-01T00:00:00.000Z';
      const row = (clientAddress: string, issuer: string, subject: string, count: number) => ({
        windowStart: at,
        clientAddress,
        reason: 'ERR_AUTH_INVALID',
        issuer,
        subject,
        count,
        firstSeen: at,
        lastSeen: at,
      });
      const keepAll = { maxRows: 100, notBefore: '2000-01-01T00:00:00.000Z' };
      const iss = 'https://login.example/tenant';
      await store.recordSecurityEvents(
        [row('192.0.2.1', iss, 'alice', 2), row('192.0.2.1', iss, 'bob', 1), row('192.0.2.1', '', '', 4)],
        keepAll,
      );
      await store.recordSecurityEvents([row('192.0.2.2', iss, 'alice', 3)], keepAll);
      const sorted = (rows: readonly { clientAddress: string; subject: string; count: number }[]) =>
        rows.map((e) => [e.clientAddress, e.subject, e.count]).sort();
      assert.deepEqual(sorted(await store.querySecurityEvents({ limit: 100 })), [
        ['192.0.2.1', '', 4],
        ['192.0.2.1', 'alice', 2],
        ['192.0.2.1', 'bob', 1],
        ['192.0.2.2', 'alice', 3],
      ]);
      assert.deepEqual(sorted(await store.querySecurityEvents({ subject: 'alice', limit: 100 })), [
        ['192.0.2.1', 'alice', 2],
        ['192.0.2.2', 'alice', 3],
      ]);
      assert.deepEqual(await store.querySecurityEvents({ issuer: iss, subject: 'bob', limit: 100 }), [
        row('192.0.2.1', iss, 'bob', 1),
      ]);
      assert.deepEqual(await store.querySecurityEvents({ issuer: 'https://other.example', limit: 100 }), []);
    });

    void test('probeHealth: ok on an open store, writes nothing, never rejects (unavailable once closed)', async () => {
      const store = await open();
      assert.equal(await store.probeHealth(), 'ok');
      assert.equal(await store.probeHealth(), 'ok');
      assert.equal(await store.auditTail(), undefined, 'the probe wrote nothing');
      assert.deepEqual(await store.listMeta(), []);
      await store.close();
      await store.close(); // idempotent
      assert.equal(await store.probeHealth(), 'unavailable');
    });

    void test('checkpoints: one root per size, latest by size; cosignatures per witness key', async () => {
      const store = await open();
      const root = (b: number): Buffer => Buffer.alloc(32, b);
      assert.equal(await store.latestCheckpoint(), undefined);
      await store.storeCheckpoint({ size: 2, root: root(2), note: 'n2', createdAt: T0 });
      await store.storeCheckpoint({ size: 5, root: root(5), note: 'n5', createdAt: T1 });
      await store.storeCheckpoint({ size: 5, root: root(5), note: 'other note', createdAt: T1 });
      assert.deepEqual(await store.latestCheckpoint(), { size: 5, root: root(5), note: 'n5', createdAt: T1 });
      assert.deepEqual(await store.getCheckpoint(2), { size: 2, root: root(2), note: 'n2', createdAt: T0 });
      assert.equal(await store.getCheckpoint(3), undefined);
      await rejectsCode(
        () => store.storeCheckpoint({ size: 2, root: root(9), note: 'fork', createdAt: T1 }),
        'ERR_AUDIT_CHAIN_BROKEN',
      );
      assert.equal((await store.getCheckpoint(2))?.note, 'n2', 'the fork changed nothing');

      const cosig = (size: number, witnessName: string, timestamp: number) => ({
        size,
        witnessName,
        keyHash: Buffer.from([1, 2, 3, 4]),
        line: `— ${witnessName} ${size}/${timestamp}\n`,
        timestamp,
      });
      await store.storeCosignature(cosig(2, 'w1', 100));
      await store.storeCosignature(cosig(5, 'w1', 200));
      await store.storeCosignature(cosig(5, 'w1', 300)); // re-cosigned later: replaces
      await store.storeCosignature(cosig(2, 'w2', 150));
      assert.deepEqual(await store.listCosignatures(5), [cosig(5, 'w1', 300)]);
      assert.deepEqual(await store.listCosignatures(2), [cosig(2, 'w1', 100), cosig(2, 'w2', 150)]);
      assert.deepEqual(await store.newestCosignatures(), [cosig(5, 'w1', 300), cosig(2, 'w2', 150)]);
    });

    void test('listMeta lists every entry by name', async () => {
      const store = await open();
      assert.deepEqual(await store.listMeta(), []);
      await store.setMetaIfAbsent('b', 'second');
      await store.setMetaIfAbsent('a', 'first');
      await store.setMetaIfAbsent('a', 'ignored');
      assert.deepEqual(await store.listMeta(), [
        ['a', 'first'],
        ['b', 'second'],
      ]);
    });

    /** A key as a store copy reads it from another store: disabled, version 2 active, a policy, a revocation. */
    const importedKey = (name: string, state: KeyState = 'disabled') => {
      const key: KeyRecord = {
        name,
        protocol: 'ms-dke',
        state,
        activeVersion: 2,
        cacheSeconds: 120,
        policy: { users: ['alice@example.com'], groups: ['g'], roles: [], tenants: ['t1'] },
        createdAt: T0,
        updatedAt: T1,
      };
      const destroyed = state === 'destroyed';
      const versions: KeyVersionRecord[] = [1, 2].map((v) => ({
        keyName: name,
        version: v,
        keyId: `${name}-kid-${v}`,
        spec: 'RSA-2048',
        publicJwk: JSON.stringify({ kty: 'RSA', kid: `${name}-kid-${v}` }),
        // Version 2 of a live key is in a PKCS#11 token: a token reference, no sealed material.
        sealedPrivateKey: destroyed || v === 2 ? null : Buffer.from(`sealed:${name}:${v}`),
        tokenRef: !destroyed && v === 2 ? 'ab'.repeat(32) : null,
        createdAt: v === 1 ? T0 : T1,
        destroyedAt: destroyed ? T1 : null,
      }));
      const revoked: RevokedObject[] = [
        { objectId: 'o1', revokedAt: T0 },
        { objectId: 'o2', revokedAt: T1 },
      ];
      return { key, versions, revoked };
    };

    void test('importKey stores a key exactly as given, destroyed versions included', async () => {
      const store = await open();
      const live = importedKey('live');
      await store.importKey(live.key, live.versions, live.revoked);
      assert.deepEqual(await store.getKey('live'), live.key);
      assert.deepEqual(await store.listKeyVersions('live'), live.versions);
      assert.deepEqual(await store.listRevokedObjects('live'), live.revoked);
      const gone = importedKey('gone', 'destroyed');
      await store.importKey(gone.key, gone.versions, []);
      assert.deepEqual(await store.getKey('gone'), gone.key);
      assert.deepEqual(await store.listKeyVersions('gone'), gone.versions);
      assert.deepEqual(await store.listRevokedObjects('gone'), []);
      await rejectsCode(() => store.addKeyVersion('gone', () => version('v3')), 'ERR_KEY_DESTROYED');
      // An imported live key behaves like any other.
      const v3 = await store.addKeyVersion('live', () => version('live-kid-3'));
      assert.equal(v3.version, 3);
    });

    void test('importKey refuses a taken name or key id and then stores nothing', async () => {
      const store = await open();
      await createNative(store, 'taken', 'kid-t');
      const sameName = importedKey('taken');
      await rejectsCode(
        () => store.importKey(sameName.key, sameName.versions, sameName.revoked),
        'ERR_KEY_EXISTS',
      );
      assert.equal((await store.getKey('taken'))?.protocol, 'native');
      assert.equal(await store.getKeyVersion('taken', 'taken-kid-1'), undefined);
      const clash = importedKey('fresh');
      const versions = [
        clash.versions[0] as KeyVersionRecord,
        { ...(clash.versions[1] as KeyVersionRecord), keyId: 'kid-t' },
      ];
      await rejectsCode(() => store.importKey(clash.key, versions, clash.revoked), 'ERR_KEY_EXISTS');
      assert.equal(await store.getKey('fresh'), undefined, 'nothing of the refused key is stored');
      assert.deepEqual(await store.listRevokedObjects('fresh'), []);
      assert.deepEqual(
        (await store.listKeys()).map((k) => k.name),
        ['taken'],
      );
    });

    void test('getKeyForUse reads the key, the version and the revocation together, current after every change', async () => {
      const store = await open();
      assert.equal(await store.getKeyForUse('k', 'v1', 'obj'), undefined, 'unknown key');
      await createNative(store, 'k', 'v1');
      await createNative(store, 'other', 'o1');
      const use = await store.getKeyForUse('k', 'v1', 'obj');
      assert.deepEqual(use, {
        key: await store.getKey('k'),
        version: await store.getKeyVersion('k', 'v1'),
        objectRevoked: false,
      });
      assert.equal((await store.getKeyForUse('k', 'nope'))?.version, undefined, 'unknown key id');
      assert.equal((await store.getKeyForUse('k', 'o1'))?.version, undefined, "another key's key id");
      assert.equal((await store.getKeyForUse('k', 'v1'))?.objectRevoked, false, 'no object given');
      await store.revokeObject('k', 'obj', T1);
      assert.equal((await store.getKeyForUse('k', 'v1', 'obj'))?.objectRevoked, true);
      assert.equal((await store.getKeyForUse('k', 'v1'))?.objectRevoked, false);
      assert.equal((await store.getKeyForUse('other', 'o1', 'obj'))?.objectRevoked, false, 'per key');
      await store.updateKey('k', { state: 'disabled', updatedAt: T1 });
      assert.equal((await store.getKeyForUse('k', 'v1', 'obj'))?.key.state, 'disabled');
      await store.addKeyVersion('k', () => version('v2'));
      const rotated = await store.getKeyForUse('k', 'v2', 'obj');
      assert.deepEqual([rotated?.key.activeVersion, rotated?.version?.version], [2, 2]);
      await store.unrevokeObject('k', 'obj');
      assert.equal((await store.getKeyForUse('k', 'v1', 'obj'))?.objectRevoked, false);
      await store.destroyKey('k', T1);
      const destroyed = await store.getKeyForUse('k', 'v1', 'obj');
      assert.equal(destroyed?.key.state, 'destroyed');
      assert.equal(destroyed?.version?.sealedPrivateKey, null);
    });

    void test('listCheckpoints and listWitnessedLogs list everything in order', async () => {
      const store = await open();
      assert.deepEqual(await store.listCheckpoints(), []);
      assert.deepEqual(await store.listWitnessedLogs(), []);
      const checkpoint = (size: number) => ({
        size,
        root: Buffer.alloc(32, size),
        note: `n${size}`,
        createdAt: T0,
      });
      for (const size of [5, 2, 9]) await store.storeCheckpoint(checkpoint(size));
      assert.deepEqual(await store.listCheckpoints(), [checkpoint(2), checkpoint(5), checkpoint(9)]);
      const huge = 2n ** 63n - 1n;
      await store.compareAndSetWitnessedLog('z.example/log', 0n, huge, Buffer.alloc(32, 1), T1);
      await store.compareAndSetWitnessedLog('a.example/log', 0n, 3n, Buffer.alloc(32, 2), T0);
      assert.deepEqual(await store.listWitnessedLogs(), [
        { origin: 'a.example/log', size: 3n, root: Buffer.alloc(32, 2), updatedAt: T0 },
        { origin: 'z.example/log', size: huge, root: Buffer.alloc(32, 1), updatedAt: T1 },
      ]);
    });

    void test('the iterators stream past one page, and the store answers other calls between records', async () => {
      const store = await open();
      const count = 2503;
      for (let done = 0; done < count; done += 500) {
        await appendRows(store, Math.min(500, count - done), (seq) => ({
          time: seq <= 1200 ? T0 : T1,
          requestId: `req-${seq}`,
        }));
      }
      let seen = 0;
      for await (const [, seq] of store.iterateAuditChain()) {
        seen += 1;
        assert.equal(seq, seen);
        // Another call, a write even, in the middle of the stream (a backend must not hold it busy).
        if (seq % 700 === 0) await store.setMetaIfAbsent(`at-${seq}`, 'x');
        if (seq === 1500) await appendRows(store, 1, () => ({ time: T1 }));
      }
      assert.equal(seen, count + 1, 'a record appended while streaming comes at the end');
      let rows = 0;
      for await (const row of store.iterateAuditRows(T1)) {
        rows += 1;
        assert.equal(row.seq, 1200 + rows);
        if (rows === 1) assert.equal((await store.getAuditRow(row.seq))?.requestId, 'req-1201');
      }
      assert.equal(rows, count + 1 - 1200);
      assert.equal((await collect(store.iterateAuditRows())).length, count + 1);
      assert.equal((await store.listMeta()).length, 3);
    });

    void test('closing and reopening loses nothing', async () => {
      const first = await open();
      await first.createKey(
        { name: 'k', protocol: 'ms-dke', cacheSeconds: 10, createdAt: T0 },
        version('v1'),
      );
      await first.addKeyVersion('k', () => version('v2'));
      await first.updateKey('k', {
        policy: { users: ['u'], groups: [], roles: [], tenants: [] },
        updatedAt: T1,
      });
      await first.revokeObject('k', 'obj', T1);
      await first.setMetaIfAbsent('m', 'v');
      await first.compareAndSetWitnessedLog('example.com/log', 0n, 3n, Buffer.alloc(32, 3), T1);
      await first.appendAuditRows((tail) => [auditRow(tail)]);
      const before = { key: await first.getKey('k'), versions: await first.listKeyVersions('k') };
      await first.close();
      const second = await open();
      assert.deepEqual(
        { key: await second.getKey('k'), versions: await second.listKeyVersions('k') },
        before,
      );
      assert.equal(await second.isObjectRevoked('k', 'obj'), true);
      assert.equal(await second.getMeta('m'), 'v');
      assert.equal((await second.getWitnessedLog('example.com/log'))?.size, 3n);
      assert.equal((await second.auditTail())?.seq, 1);
      assert.equal(await second.auditTreeSize(), 1);
    });
  });
}
