/**
 * The checkpointer's one-root-per-size rule (docs/audit.md "Checkpoints") on a real SQLite store. The tree
 * a real store keeps cannot give two roots for one size, so the log here is a tree head we control: it
 * stands for a log whose stored history was rewritten under the running service or between two starts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Checkpointer } from '../../src/audit/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import {
  generateSignerKey,
  noteVerifier,
  openCheckpoint,
  parseSignerKey,
} from '../../src/transparency/index.js';
import { withTempDir } from '../store/temp-dir.js';

const key = generateSignerKey('test.example/opendke/audit');
const signer = parseSignerKey(key.signerKey);

function controlledLog(size: number, fill: number) {
  const head = { size, rootHash: Buffer.alloc(32, fill) };
  return {
    head,
    treeSize: () => Promise.resolve(head.size),
    treeHead: (n?: number) => Promise.resolve({ size: n ?? head.size, rootHash: head.rootHash }),
  };
}

const broken = (error: unknown): boolean => isDkeError(error, 'ERR_AUDIT_CHAIN_BROKEN');

void describe('Checkpointer', () => {
  void it(
    'signs each size once; a second root for a signed size is never signed nor persisted',
    withTempDir(async (dir) => {
      const store = openSqliteStore(path.join(dir, 'db'));
      try {
        const log = controlledLog(3, 1);
        let signatures = 0;
        const checkpointer = await Checkpointer.open({
          log,
          store,
          signer,
          intervalSeconds: 1,
          onSigned: () => (signatures += 1),
        });
        const first = await checkpointer.signedCheckpoint(3);
        assert.equal((await checkpointer.signedCheckpoint(2)).note, first.note, 'cached per size');
        assert.equal(signatures, 1);
        const opened = openCheckpoint(first.note, noteVerifier(key.verifierKey));
        assert.equal(opened.checkpoint.size, 3n);
        await assert.rejects(
          () => checkpointer.signedCheckpoint(4),
          (e: unknown) => isDkeError(e, 'ERR_INTERNAL'),
        );
        log.head.rootHash = Buffer.alloc(32, 2);
        // Receipts reuse the size's note; persisting reads the root and refuses the second one.
        assert.equal((await checkpointer.signedCheckpoint(3)).note, first.note);
        await assert.rejects(() => checkpointer.persist(), broken);
        assert.equal(signatures, 1, 'nothing signed for the second root');
        assert.equal(await store.latestCheckpoint(), undefined, 'nothing persisted');
      } finally {
        await store.close();
      }
    }),
  );

  void it(
    'a restart on a tree that no longer has the persisted root (or is smaller) is refused',
    withTempDir(async (dir) => {
      const file = path.join(dir, 'db');
      const store = openSqliteStore(file);
      try {
        const persisted = await (
          await Checkpointer.open({
            log: controlledLog(5, 1),
            store,
            signer,
            intervalSeconds: 1,
          })
        ).persist();
        assert.equal((await store.latestCheckpoint())?.note, persisted.note);
        await assert.doesNotReject(() =>
          Checkpointer.open({ log: controlledLog(5, 1), store, signer, intervalSeconds: 1 }),
        );
        await assert.rejects(
          () => Checkpointer.open({ log: controlledLog(5, 9), store, signer, intervalSeconds: 1 }),
          broken,
        );
        await assert.rejects(
          () => Checkpointer.open({ log: controlledLog(4, 1), store, signer, intervalSeconds: 1 }),
          broken,
        );
        // The store itself refuses a second root for a persisted size.
        const rewritten = await Checkpointer.open({
          log: controlledLog(6, 1),
          store,
          signer,
          intervalSeconds: 1,
        });
        await assert.rejects(
          () => store.storeCheckpoint({ size: 5, root: Buffer.alloc(32, 7), note: 'x', createdAt: 'now' }),
          broken,
        );
        assert.equal((await rewritten.persist()).size, 6);
      } finally {
        await store.close();
      }
    }),
  );
});
