/**
 * src/store/sqlite/wal-sync.ts: commits flushed off the event loop. Concurrent callers share flushes (one
 * running, at most one more queued), every caller waits for a flush that started after its call, and a WAL
 * that cannot be flushed fails the write (ERR_STORE_UNAVAILABLE) instead of acknowledging it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { WalSync } from '../../src/store/sqlite/wal-sync.js';
import { openSqliteStore } from '../../src/store/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { withTempDir } from './temp-dir.js';

void describe('WalSync', () => {
  it(
    'close waits for a queued flush as well as the running one: its callers get their flush, not an error',
    withTempDir(async (dir) => {
      const file = path.join(dir, 'x-wal');
      writeFileSync(file, 'frames');
      const sync = new WalSync(file);
      const running = sync.sync();
      const queued = sync.sync(); // behind the running flush
      const closed = sync.close();
      await Promise.all([running, queued, closed]);
    }),
  );

  it(
    'shares flushes between concurrent callers: one running, one queued for everyone who came meanwhile',
    withTempDir(async (dir) => {
      const file = path.join(dir, 'x-wal');
      writeFileSync(file, 'frames');
      const sync = new WalSync(file);
      let flushes = 0;
      const counting = sync as unknown as { flush: () => Promise<void> };
      const flush = counting.flush.bind(sync);
      counting.flush = () => {
        flushes += 1;
        return flush();
      };
      try {
        await Promise.all(Array.from({ length: 50 }, () => sync.sync()));
        assert.equal(flushes, 2, 'the first call flushes, the 49 others share one flush after it');
        await sync.sync();
        assert.equal(flushes, 3);
      } finally {
        await sync.close();
      }
    }),
  );

  it(
    'a WAL that cannot be flushed rejects ERR_STORE_UNAVAILABLE',
    withTempDir(async (dir) => {
      const sync = new WalSync(path.join(dir, 'missing-wal'));
      await assert.rejects(sync.sync(), (e: unknown) => isDkeError(e, 'ERR_STORE_UNAVAILABLE'));
      await sync.close();
    }),
  );

  it(
    "a store's writes resolve after the flush; a failed flush fails the write",
    withTempDir(async (dir) => {
      const file = path.join(dir, 'store.db');
      const store = openSqliteStore(file);
      try {
        assert.equal(await store.setMetaIfAbsent('a', '1'), '1');
        // The store's WAL flusher, pointed at a file that does not exist: the write must not resolve.
        (store as unknown as { walSync: WalSync }).walSync = new WalSync(path.join(dir, 'gone', 'x-wal'));
        await assert.rejects(store.setMetaIfAbsent('b', '2'), (e: unknown) =>
          isDkeError(e, 'ERR_STORE_UNAVAILABLE'),
        );
      } finally {
        await store.close();
      }
    }),
  );
});
