/**
 * The storage adapter contract as tests (docs/storage.md). Every backend runs this same suite:
 *   runStoreSuite('sqlite', () => ({ open: () => openSqliteStore(file), cleanup: () => rm(dir) }))
 * `open` may be called again after `close()` and must reopen the same data (restart tests).
 */
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isDkeError, type ErrorCode } from '../../src/errors/index.js';
import type { AuditRow, AuditTail, DkeStore, NewKeyVersion } from '../../src/store/index.js';
import { canonicalAuditText } from '../../src/audit/index.js';
import { emptyRoot, verifyConsistency, verifyInclusion } from '../../src/transparency/merkle.js';
import {
  consistencyProofPlan,
  inclusionProofPlan,
  rootPlan,
  type ProofPlan,
} from '../../src/transparency/proof-plan.js';
import { recordLeaf, referenceRoot } from '../support/mth.js';

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
  open(): DkeStore;
  cleanup(): void;
}

const T0 = '2025-01-01T00:00:00.000Z';
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

/** An audit row that follows `tail` (the first row when there is none); `fields` override. */
export function auditRow(tail: AuditTail | undefined, fields: Partial<AuditRow> = {}): AuditRow {
  const seq = (tail?.seq ?? 0) + 1;
  return {
    seq,
    time: T0,
    prevHash: tail?.hash ?? '0'.repeat(64),
    hash: `h${seq}`.padEnd(64, '0'),
    action: 'native.unwrap',
    result: 'allowed',
    reason: null,
    issuer: null,
    subject: null,
    userName: null,
    keyName: null,
    keyVersion: null,
    keyId: null,
    objectId: null,
    clientAddress: null,
    requestId: null,
    ...fields,
  };
}

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (error: unknown) => isDkeError(error, code));
}

export function runStoreSuite(backend: string, makeStore: () => StoreFixture): void {
  void describe(`store contract: ${backend}`, () => {
    let fixture: StoreFixture | undefined;
    let opened: DkeStore[] = [];
    const open = (): DkeStore => {
      fixture ??= makeStore();
      const store = fixture.open();
      opened.push(store);
      return store;
    };
    afterEach(() => {
      for (const store of opened) store.close();
      opened = [];
      fixture?.cleanup();
      fixture = undefined;
    });

    void test('createKey stores the key with an empty policy and version 1', () => {
      const store = open();
      store.createKey({ name: 'k1', protocol: 'native', cacheSeconds: 60, createdAt: T0 }, version('kid-1'));
      const key = store.getKey('k1');
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
      const versions = store.listKeyVersions('k1');
      assert.equal(versions.length, 1);
      assert.equal(versions[0]?.version, 1);
      assert.equal(versions[0]?.keyId, 'kid-1');
      assert.deepEqual(versions[0]?.sealedPrivateKey, Buffer.from('sealed:kid-1'));
      assert.equal(versions[0]?.destroyedAt, null);
      assert.equal(store.getKey('K1'), undefined, 'names are case-sensitive');
    });

    void test('createKey refuses a taken name and a key id stored under another key', () => {
      const store = open();
      store.createKey({ name: 'a', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-a'));
      throwsCode(
        () =>
          store.createKey(
            { name: 'a', protocol: 'ms-dke', cacheSeconds: null, createdAt: T0 },
            version('kid-x'),
          ),
        'ERR_KEY_EXISTS',
      );
      throwsCode(
        () =>
          store.createKey(
            { name: 'b', protocol: 'native', cacheSeconds: null, createdAt: T0 },
            version('kid-a'),
          ),
        'ERR_KEY_EXISTS',
      );
      assert.equal(store.getKey('b'), undefined, 'nothing of the refused key is stored');
      assert.equal(store.getKey('a')?.protocol, 'native');
    });

    void test('addKeyVersion numbers versions, activates the new one, and rolls back when build throws', () => {
      const store = open();
      store.createKey({ name: 'k', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('v1'));
      const seen: number[] = [];
      const added = store.addKeyVersion('k', (v) => {
        seen.push(v);
        return version('v2');
      });
      assert.deepEqual(seen, [2]);
      assert.equal(added.version, 2);
      assert.equal(store.getKey('k')?.activeVersion, 2);
      assert.throws(() =>
        store.addKeyVersion('k', () => {
          throw new Error('boom');
        }),
      );
      assert.equal(store.listKeyVersions('k').length, 2);
      throwsCode(() => store.addKeyVersion('k', () => version('v1')), 'ERR_KEY_EXISTS');
      assert.equal(store.getKey('k')?.activeVersion, 2);
      throwsCode(() => store.addKeyVersion('nope', () => version('v9')), 'ERR_KEY_NOT_FOUND');
    });

    void test('getKeyVersion finds a key id only under its own key', () => {
      const store = open();
      store.createKey({ name: 'a', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-a'));
      store.createKey({ name: 'b', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-b'));
      assert.equal(store.getKeyVersion('a', 'kid-a')?.keyName, 'a');
      assert.equal(store.getKeyVersion('a', 'kid-b'), undefined);
      assert.equal(store.getKeyVersion('b', 'kid-a'), undefined);
    });

    void test('updateKey changes one key only and refuses unknown and destroyed keys', () => {
      const store = open();
      store.createKey({ name: 'a', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-a'));
      store.createKey({ name: 'b', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-b'));
      const policy = { users: ['alice@example.com'], groups: [], roles: ['reader'], tenants: [] };
      store.updateKey('a', { state: 'disabled', cacheSeconds: 300, policy, updatedAt: T1 });
      assert.deepEqual(store.getKey('a'), {
        ...store.getKey('a'),
        state: 'disabled',
        cacheSeconds: 300,
        policy,
        updatedAt: T1,
      });
      assert.deepEqual(store.getKey('b')?.policy, { users: [], groups: [], roles: [], tenants: [] });
      assert.equal(store.getKey('b')?.state, 'enabled');
      store.updateKey('a', { cacheSeconds: null, updatedAt: T1 });
      assert.equal(store.getKey('a')?.cacheSeconds, null);
      throwsCode(() => store.updateKey('nope', { state: 'enabled', updatedAt: T1 }), 'ERR_KEY_NOT_FOUND');
      store.destroyKey('a', T1);
      throwsCode(() => store.updateKey('a', { state: 'enabled', updatedAt: T1 }), 'ERR_KEY_DESTROYED');
    });

    void test('destroyKey removes the sealed material of every version and leaves a tombstone', () => {
      const store = open();
      store.createKey({ name: 'k', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('v1'));
      store.addKeyVersion('k', () => version('v2'));
      store.destroyKey('k', T1);
      assert.equal(store.getKey('k')?.state, 'destroyed');
      for (const v of store.listKeyVersions('k')) {
        assert.equal(v.sealedPrivateKey, null);
        assert.equal(v.destroyedAt, T1);
      }
      store.destroyKey('k', '2030-01-01T00:00:00.000Z');
      assert.equal(store.listKeyVersions('k')[0]?.destroyedAt, T1, 'destroying again changes nothing');
      throwsCode(() => store.addKeyVersion('k', () => version('v3')), 'ERR_KEY_DESTROYED');
      throwsCode(
        () =>
          store.createKey(
            { name: 'k', protocol: 'native', cacheSeconds: null, createdAt: T1 },
            version('v4'),
          ),
        'ERR_KEY_EXISTS',
      );
      throwsCode(
        () =>
          store.createKey(
            { name: 'x', protocol: 'native', cacheSeconds: null, createdAt: T1 },
            version('v1'),
          ),
        'ERR_KEY_EXISTS',
      );
      throwsCode(() => store.destroyKey('nope', T1), 'ERR_KEY_NOT_FOUND');
    });

    void test('object revocation is per key and per object', () => {
      const store = open();
      store.createKey({ name: 'a', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-a'));
      store.createKey({ name: 'b', protocol: 'native', cacheSeconds: null, createdAt: T0 }, version('kid-b'));
      assert.equal(store.revokeObject('a', 'obj1', T0), true);
      assert.equal(store.revokeObject('a', 'obj1', T1), false);
      assert.equal(store.isObjectRevoked('a', 'obj1'), true);
      assert.equal(store.isObjectRevoked('a', 'obj2'), false);
      assert.equal(store.isObjectRevoked('b', 'obj1'), false);
      assert.equal(store.isObjectRevoked('nope', 'obj1'), false);
      assert.deepEqual(store.listRevokedObjects('a'), [{ objectId: 'obj1', revokedAt: T0 }]);
      assert.equal(store.unrevokeObject('a', 'obj1'), true);
      assert.equal(store.unrevokeObject('a', 'obj1'), false);
      assert.equal(store.isObjectRevoked('a', 'obj1'), false);
      throwsCode(() => store.revokeObject('nope', 'obj1', T0), 'ERR_KEY_NOT_FOUND');
    });

    void test('setMetaIfAbsent keeps the first value', () => {
      const store = open();
      assert.equal(store.getMeta('m'), undefined);
      assert.equal(store.setMetaIfAbsent('m', 'first'), 'first');
      assert.equal(store.setMetaIfAbsent('m', 'second'), 'first');
      assert.equal(store.getMeta('m'), 'first');
    });

    void test('compareAndSetWitnessedLog moves a log forward only from the stored size', () => {
      const store = open();
      const rootA = Buffer.alloc(32, 0xa1);
      const rootB = Buffer.alloc(32, 0xb2);
      assert.equal(store.getWitnessedLog('example.com/log'), undefined);
      assert.equal(
        store.compareAndSetWitnessedLog('example.com/log', 1n, 5n, rootA, T0),
        false,
        'absent is 0',
      );
      assert.equal(store.getWitnessedLog('example.com/log'), undefined);
      assert.equal(store.compareAndSetWitnessedLog('example.com/log', 0n, 5n, rootA, T0), true);
      assert.equal(store.compareAndSetWitnessedLog('example.com/log', 0n, 7n, rootB, T1), false, 'stale');
      assert.deepEqual(store.getWitnessedLog('example.com/log'), {
        origin: 'example.com/log',
        size: 5n,
        root: rootA,
        updatedAt: T0,
      });
      const huge = 2n ** 63n - 1n;
      assert.equal(store.compareAndSetWitnessedLog('example.com/log', 5n, huge, rootB, T1), true);
      assert.equal(store.getWitnessedLog('example.com/log')?.size, huge, 'no rounding through number');
      assert.equal(store.getWitnessedLog('other.example/log'), undefined, 'per origin');
    });

    void test('appendAuditRows passes the tail inside the transaction and rolls back a failed build', () => {
      const store = open();
      assert.equal(store.auditTail(), undefined);
      const tails: (AuditTail | undefined)[] = [];
      const firstBatch = store.appendAuditRows((tail) => {
        tails.push(tail);
        const first = auditRow(tail, { keyName: 'a', subject: 'alice' });
        return [
          first,
          auditRow({ seq: first.seq, hash: first.hash }, { keyName: 'b', userName: 'bob@example.com' }),
        ];
      });
      store.appendAuditRows((tail) => {
        tails.push(tail);
        return [auditRow(tail, { objectId: 'o1', time: T1, keyVersion: 3 })];
      });
      assert.deepEqual(tails, [undefined, { seq: 2, hash: firstBatch[1]?.hash }]);
      assert.throws(() =>
        store.appendAuditRows(() => {
          throw new Error('boom');
        }),
      );
      assert.equal(store.auditTail()?.seq, 3);
      const all = store.queryAuditRows({ limit: 10 }).reverse();
      assert.deepEqual(all[0], firstBatch[0]);
      assert.deepEqual(
        all.map((r) => r.seq),
        [1, 2, 3],
      );
      assert.equal(all[2]?.keyVersion, 3);
      assert.equal(all[0]?.reason, null);
    });

    void test('appendAuditRows refuses a row that repeats a seq', () => {
      const store = open();
      store.appendAuditRows((tail) => [auditRow(tail)]);
      assert.throws(() => store.appendAuditRows(() => [auditRow(undefined)]));
      assert.equal([...store.iterateAuditChain()].length, 1);
    });

    void test('iterateAuditChain streams every record in seq order with its canonical text', () => {
      const store = open();
      const tricky = [
        'plain',
        '',
        'quote " backslash \\ slash /',
        'ctl \u0000\u0001\b\f\n\r\t\u001f\u007f',
        'sep \u2028\u2029',
        'ümlaut 中文 😀 \ufffd',
        '<script>&amp;',
      ];
      store.appendAuditRows((tail) => {
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
      const rows = store.queryAuditRows({ limit: 100 }).reverse();
      const links = [...store.iterateAuditChain()];
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
    ): readonly AuditRow[] =>
      store.appendAuditRows((tail) => {
        let last = tail;
        return Array.from({ length: count }, () => {
          const row = auditRow(last, fields((last?.seq ?? 0) + 1));
          last = { seq: row.seq, hash: row.hash };
          return row;
        });
      });
    const rootOf = (store: DkeStore, size: number): Buffer => {
      if (size === 0) return emptyRoot();
      const plan = rootPlan(size);
      return plan.assemble(store.readAuditTreeNodes(plan.nodes))[0] as Buffer;
    };
    const proofOf = (store: DkeStore, plan: ProofPlan): Buffer[] =>
      plan.assemble(plan.nodes.length === 0 ? [] : store.readAuditTreeNodes(plan.nodes));

    void test('audit tree: appends in random batches keep the RFC 6962 root of every size, proofs verify', () => {
      const store = open();
      assert.equal(store.auditTreeSize(), 0);
      const random = seeded(20251201);
      const leaves: Buffer[] = [];
      while (leaves.length < 100) {
        const count = Math.min(100 - leaves.length, 1 + Math.floor(random() * 9));
        const rows = appendRows(store, count, (seq) => ({
          subject: `s${seq} ü`,
          keyVersion: seq % 3 === 0 ? null : seq,
        }));
        leaves.push(...rows.map(recordLeaf));
        assert.equal(store.auditTreeSize(), leaves.length);
        assert.deepEqual(rootOf(store, leaves.length), referenceRoot(leaves), `root after ${leaves.length}`);
      }
      const roots = Array.from({ length: 101 }, (_, n) => referenceRoot(leaves.slice(0, n)));
      for (let n = 1; n <= 100; n++) {
        assert.deepEqual(rootOf(store, n), roots[n], `root of the first ${n}`);
        for (let i = 0; i < n; i++) {
          const plan = inclusionProofPlan(i, n);
          verifyInclusion(i, n, leaves[i] as Buffer, proofOf(store, plan), roots[n] as Buffer);
        }
        for (let m = 1; m <= n; m++) {
          const plan = consistencyProofPlan(m, n);
          verifyConsistency(m, n, proofOf(store, plan), roots[m] as Buffer, roots[n] as Buffer);
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

    void test('audit tree: a failed batch leaves neither rows nor nodes', () => {
      const store = open();
      appendRows(store, 3);
      const before = rootOf(store, 3);
      // The second row's insert fails (no action) after the first row and its nodes went in.
      assert.throws(() =>
        store.appendAuditRows((tail) => {
          const first = auditRow(tail);
          return [first, auditRow(first, { action: null as unknown as string })];
        }),
      );
      // Two rows with one seq: refused before anything is written.
      assert.throws(() => store.appendAuditRows((tail) => [auditRow(tail), auditRow(tail)]));
      assert.throws(() =>
        store.appendAuditRows((tail) => {
          void tail;
          throw new Error('boom');
        }),
      );
      // A row that does not continue the sequence is refused before anything is written.
      assert.throws(() =>
        store.appendAuditRows((tail) => [auditRow({ seq: (tail?.seq ?? 0) + 1, hash: 'x' })]),
      );
      assert.equal(store.auditTreeSize(), 3);
      assert.equal(store.auditTail()?.seq, 3);
      assert.deepEqual(rootOf(store, 3), before);
      throwsCode(() => store.readAuditTreeNodes([{ level: 0, index: 3 }]), 'ERR_AUDIT_UNAVAILABLE');
      const rows = appendRows(store, 2);
      assert.deepEqual(
        rows.map((r) => r.seq),
        [4, 5],
      );
      assert.equal(store.auditTreeSize(), 5);
    });

    void test('audit rows by seq and by request id (oldest first, limited)', () => {
      const store = open();
      appendRows(store, 6, (seq) => ({ requestId: seq % 2 === 0 ? 'even' : `odd-${seq}` }));
      assert.deepEqual(
        store.findAuditRowsByRequestId('even', 10).map((r) => r.seq),
        [2, 4, 6],
      );
      assert.deepEqual(
        store.findAuditRowsByRequestId('even', 2).map((r) => r.seq),
        [2, 4],
      );
      assert.deepEqual(store.findAuditRowsByRequestId('none', 10), []);
      assert.equal(store.getAuditRow(3)?.requestId, 'odd-3');
      assert.equal(store.getAuditRow(7), undefined);
    });

    void test('queryAuditRows filters, newest first, with a limit', () => {
      const store = open();
      store.appendAuditRows((tail) => {
        const rows: AuditRow[] = [];
        let last = tail;
        const specs: Partial<AuditRow>[] = [
          { keyName: 'a', subject: 'alice', objectId: 'o1', time: T0 },
          { keyName: 'b', subject: 'bob', userName: 'bob@example.com', objectId: 'o2', time: T0 },
          { keyName: 'a', subject: 'bob', userName: 'bob@example.com', objectId: 'o1', time: T1 },
        ];
        for (const spec of specs) {
          const row = auditRow(last, spec);
          rows.push(row);
          last = { seq: row.seq, hash: row.hash };
        }
        return rows;
      });
      const seqs = (rows: AuditRow[]): number[] => rows.map((r) => r.seq);
      assert.deepEqual(seqs(store.queryAuditRows({ limit: 10 })), [3, 2, 1]);
      assert.deepEqual(seqs(store.queryAuditRows({ keyName: 'a', limit: 10 })), [3, 1]);
      assert.deepEqual(seqs(store.queryAuditRows({ objectId: 'o2', limit: 10 })), [2]);
      assert.deepEqual(seqs(store.queryAuditRows({ subject: 'bob', limit: 10 })), [3, 2]);
      assert.deepEqual(seqs(store.queryAuditRows({ identity: 'BOB@example.com', limit: 10 })), [3, 2]);
      assert.deepEqual(seqs(store.queryAuditRows({ identity: 'alice', limit: 10 })), [1]);
      assert.deepEqual(seqs(store.queryAuditRows({ since: T1, limit: 10 })), [3]);
      assert.deepEqual(
        seqs(store.queryAuditRows({ keyName: 'a', objectId: 'o1', subject: 'alice', limit: 10 })),
        [1],
      );
      assert.deepEqual(seqs(store.queryAuditRows({ limit: 1 })), [3]);
    });

    void test('iterateAuditRows streams the records at or after a time, in seq order', () => {
      const store = open();
      store.appendAuditRows((tail) => {
        const rows: AuditRow[] = [];
        let last = tail;
        // The third record's clock stepped back: a time filter, not a seq cut-off.
        for (const spec of [
          { time: T0 },
          { time: T1, subject: 'bob' },
          { time: T0 },
          { time: T1, keyName: 'a' },
        ]) {
          const row = auditRow(last, spec);
          rows.push(row);
          last = { seq: row.seq, hash: row.hash };
        }
        return rows;
      });
      assert.deepEqual(
        [...store.iterateAuditRows()].map((r) => r.seq),
        [1, 2, 3, 4],
      );
      const after = [...store.iterateAuditRows(T1)];
      assert.deepEqual(
        after.map((r) => r.seq),
        [2, 4],
      );
      assert.deepEqual(after[0], store.queryAuditRows({ subject: 'bob', limit: 1 })[0]);
      assert.deepEqual([...store.iterateAuditRows('2999-01-01T00:00:00.000Z')], []);
    });

    void test('security events: counts add up per window, address and reason; pruned by age and row cap', () => {
      const store = open();
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
      store.recordSecurityEvents([row(0, '192.0.2.1', 'ERR_AUTH_INVALID', 3)], keepAll);
      store.recordSecurityEvents(
        [row(0, '192.0.2.1', 'ERR_AUTH_INVALID', 2), row(0, '192.0.2.1', 'ERR_RATE_LIMITED', 7)],
        keepAll,
      );
      store.recordSecurityEvents([row(1, '192.0.2.2', 'ERR_AUTH_MISSING', 1)], keepAll);
      const all = store.querySecurityEvents({ limit: 100 });
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
        store.querySecurityEvents({ clientAddress: '192.0.2.1', reason: 'ERR_AUTH_INVALID', limit: 10 }),
        [row(0, '192.0.2.1', 'ERR_AUTH_INVALID', 5)],
      );
      assert.equal(store.querySecurityEvents({ since: '2025-01-01T00:01:00.000Z', limit: 10 }).length, 1);
      assert.equal(store.querySecurityEvents({ limit: 1 }).length, 1);

      // Age: rows last seen before notBefore go.
      store.recordSecurityEvents([], { maxRows: 100, notBefore: '2025-01-01T00:01:00.000Z' });
      assert.deepEqual(
        store.querySecurityEvents({ limit: 100 }).map((e) => e.clientAddress),
        ['192.0.2.2'],
      );
      // Rows: only the newest maxRows stay.
      store.recordSecurityEvents(
        Array.from({ length: 20 }, (_, i) => row(10 + i, `198.51.100.${i}`, 'ERR_AUTH_INVALID', 1)),
        { maxRows: 5, notBefore: '2000-01-01T00:00:00.000Z' },
      );
      assert.deepEqual(
        store.querySecurityEvents({ limit: 100 }).map((e) => e.clientAddress),
        [19, 18, 17, 16, 15].map((i) => `198.51.100.${i}`),
      );
      assert.equal(store.auditTail(), undefined, 'security events are not audit records');
    });

    void test('security events: issuer and subject are part of the key and queryable; empty is unknown', () => {
      const store = open();
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
      store.recordSecurityEvents(
        [row('192.0.2.1', iss, 'alice', 2), row('192.0.2.1', iss, 'bob', 1), row('192.0.2.1', '', '', 4)],
        keepAll,
      );
      store.recordSecurityEvents([row('192.0.2.2', iss, 'alice', 3)], keepAll);
      const sorted = (rows: readonly { clientAddress: string; subject: string; count: number }[]) =>
        rows.map((e) => [e.clientAddress, e.subject, e.count]).sort();
      assert.deepEqual(sorted(store.querySecurityEvents({ limit: 100 })), [
        ['192.0.2.1', '', 4],
        ['192.0.2.1', 'alice', 2],
        ['192.0.2.1', 'bob', 1],
        ['192.0.2.2', 'alice', 3],
      ]);
      assert.deepEqual(sorted(store.querySecurityEvents({ subject: 'alice', limit: 100 })), [
        ['192.0.2.1', 'alice', 2],
        ['192.0.2.2', 'alice', 3],
      ]);
      assert.deepEqual(store.querySecurityEvents({ issuer: iss, subject: 'bob', limit: 100 }), [
        row('192.0.2.1', iss, 'bob', 1),
      ]);
      assert.deepEqual(store.querySecurityEvents({ issuer: 'https://other.example', limit: 100 }), []);
    });

    void test('probeWriteLock: free, and locked while another connection holds the write lock', () => {
      const first = open();
      const second = open();
      assert.equal(first.probeWriteLock(), 'free');
      let seen: string | undefined;
      // Inside second's write transaction, first must see the lock (and not wait for it).
      second.appendAuditRows((tail) => {
        const started = Date.now();
        seen = first.probeWriteLock();
        assert.ok(Date.now() - started < 1000, 'the probe does not wait');
        return [auditRow(tail)];
      });
      assert.equal(seen, 'locked');
      assert.equal(first.probeWriteLock(), 'free');
      assert.equal(first.auditTail()?.seq, 1, 'the probe wrote nothing');
    });

    void test('checkpoints: one root per size, latest by size; cosignatures per witness key', () => {
      const store = open();
      const root = (b: number): Buffer => Buffer.alloc(32, b);
      assert.equal(store.latestCheckpoint(), undefined);
      store.storeCheckpoint({ size: 2, root: root(2), note: 'n2', createdAt: T0 });
      store.storeCheckpoint({ size: 5, root: root(5), note: 'n5', createdAt: T1 });
      store.storeCheckpoint({ size: 5, root: root(5), note: 'other note', createdAt: T1 });
      assert.deepEqual(store.latestCheckpoint(), { size: 5, root: root(5), note: 'n5', createdAt: T1 });
      assert.deepEqual(store.getCheckpoint(2), { size: 2, root: root(2), note: 'n2', createdAt: T0 });
      assert.equal(store.getCheckpoint(3), undefined);
      throwsCode(
        () => store.storeCheckpoint({ size: 2, root: root(9), note: 'fork', createdAt: T1 }),
        'ERR_AUDIT_CHAIN_BROKEN',
      );
      assert.equal(store.getCheckpoint(2)?.note, 'n2', 'the fork changed nothing');

      const cosig = (size: number, witnessName: string, timestamp: number) => ({
        size,
        witnessName,
        keyHash: Buffer.from([1, 2, 3, 4]),
        line: `— ${witnessName} ${size}/${timestamp}\n`,
        timestamp,
      });
      store.storeCosignature(cosig(2, 'w1', 100));
      store.storeCosignature(cosig(5, 'w1', 200));
      store.storeCosignature(cosig(5, 'w1', 300)); // re-cosigned later: replaces
      store.storeCosignature(cosig(2, 'w2', 150));
      assert.deepEqual(store.listCosignatures(5), [cosig(5, 'w1', 300)]);
      assert.deepEqual(store.listCosignatures(2), [cosig(2, 'w1', 100), cosig(2, 'w2', 150)]);
      assert.deepEqual(store.newestCosignatures(), [cosig(5, 'w1', 300), cosig(2, 'w2', 150)]);
    });

    void test('closing and reopening loses nothing', () => {
      const first = open();
      first.createKey({ name: 'k', protocol: 'ms-dke', cacheSeconds: 10, createdAt: T0 }, version('v1'));
      first.addKeyVersion('k', () => version('v2'));
      first.updateKey('k', { policy: { users: ['u'], groups: [], roles: [], tenants: [] }, updatedAt: T1 });
      first.revokeObject('k', 'obj', T1);
      first.setMetaIfAbsent('m', 'v');
      first.compareAndSetWitnessedLog('example.com/log', 0n, 3n, Buffer.alloc(32, 3), T1);
      first.appendAuditRows((tail) => [auditRow(tail)]);
      const before = { key: first.getKey('k'), versions: first.listKeyVersions('k') };
      first.close();
      const second = open();
      assert.deepEqual({ key: second.getKey('k'), versions: second.listKeyVersions('k') }, before);
      assert.equal(second.isObjectRevoked('k', 'obj'), true);
      assert.equal(second.getMeta('m'), 'v');
      assert.equal(second.getWitnessedLog('example.com/log')?.size, 3n);
      assert.equal(second.auditTail()?.seq, 1);
      assert.equal(second.auditTreeSize(), 1);
    });
  });
}
