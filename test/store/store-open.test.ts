/**
 * `store.database` names either backend: a SQLite path or a PostgreSQL URL, with the PostgreSQL options in
 * `store.postgres` (config loading, `--db`, and openStore picking the backend).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, resolveStoreConfig } from '../../src/config/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { openStore, storeBackendOf } from '../../src/store/index.js';
import { createTestDatabase, whenPostgres } from '../support/postgres.js';
import { withTempDir } from './temp-dir.js';

void describe('store selection', () => {
  void test(
    'config: a PostgreSQL URL is kept as given, its option files resolve against the config file',
    withTempDir((dir) => {
      const file = path.join(dir, 'dke.yaml');
      fs.writeFileSync(
        file,
        [
          'store:',
          '  database: postgres://dke@db.example:5432/opendke',
          '  postgres:',
          '    maxConnections: 20',
          '    sslMode: verify-full',
          '    caFile: tls/ca.pem',
          '    passwordFile: secrets/pg-password',
          '',
        ].join('\n'),
      );
      const { store } = loadConfig({ file, env: {} });
      assert.equal(store.database, 'postgres://dke@db.example:5432/opendke');
      assert.equal(storeBackendOf(store.database), 'postgres');
      assert.deepEqual(store.postgres, {
        maxConnections: 20,
        connectionTimeoutMs: 5000,
        idleTimeoutMs: 30_000,
        statementTimeoutMs: 15_000,
        lockTimeoutMs: 5000,
        sslMode: 'verify-full',
        caFile: path.join(dir, 'tls/ca.pem'),
        passwordFile: path.join(dir, 'secrets/pg-password'),
      });
      const fromEnv = loadConfig({ file, env: { DKE_DATABASE: 'postgresql://other@h/db' } });
      assert.equal(fromEnv.store.database, 'postgresql://other@h/db');
      const flags = resolveStoreConfig({ config: file, db: 'postgres://cli@h/db' }, {});
      assert.equal(flags.database, 'postgres://cli@h/db', '--db takes a URL as it is');
      assert.equal(resolveStoreConfig({ db: 'rel.db' }, {}).database, path.resolve('rel.db'));
      assert.equal(storeBackendOf(path.resolve('rel.db')), 'sqlite');

      fs.writeFileSync(file, 'store:\n  postgres:\n    sslMode: prefer\n');
      assert.throws(
        () => loadConfig({ file, env: {} }),
        (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /store\.postgres\.sslMode/.test(e.message),
      );
      fs.writeFileSync(file, 'store:\n  postgres:\n    password: inline\n');
      assert.throws(
        () => loadConfig({ file, env: {} }),
        (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
        'no inline password field: a file or a variable',
      );
    }),
  );

  void test(
    'openStore opens SQLite for a path',
    withTempDir(async (dir) => {
      const store = await openStore(path.join(dir, 'store.db'));
      try {
        assert.equal(store.backend, 'sqlite');
        assert.equal(await store.setMetaIfAbsent('m', 'v'), 'v');
      } finally {
        await store.close();
      }
    }),
  );

  whenPostgres('openStore with a PostgreSQL URL', (adminUrl) => {
    void test('openStore opens PostgreSQL for a postgres:// URL, with the given options', async () => {
      const db = await createTestDatabase(adminUrl);
      try {
        const store = await openStore(db.url, { postgres: { maxConnections: 2 } });
        try {
          assert.equal(store.backend, 'postgres');
          assert.equal(await store.setMetaIfAbsent('m', 'v'), 'v');
        } finally {
          await store.close();
        }
        await assert.rejects(
          openStore(db.url, { postgres: { maxConnections: 0 } }),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && /maxConnections/.test(e.message),
        );
      } finally {
        await db.drop();
      }
    });
  });
});
