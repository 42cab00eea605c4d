/**
 * From a PostgreSQL URL and store options to pool settings (src/store/postgres/connection.ts), and the
 * driver-error classification (errors.ts) and text escaping (text-codec.ts): no server needed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { isDkeError } from '../../src/errors/index.js';
import { isPostgresUrl, poolSettings, redactPostgresUrl } from '../../src/store/postgres/connection.js';
import { asStoreError } from '../../src/store/postgres/errors.js';
import { decodeText, encodeText } from '../../src/store/postgres/text-codec.js';
import { withTempDir } from './temp-dir.js';

const invalidConfig = (pattern: RegExp) => (e: unknown) =>
  isDkeError(e, 'ERR_CONFIG_INVALID') && pattern.test(e.message);

async function passwordOf(config: pg.PoolConfig): Promise<string | undefined> {
  const { password } = config;
  return typeof password === 'function' ? await password() : password;
}

void describe('postgres connection settings', () => {
  void test('URL parts, pool defaults and session timeouts', () => {
    const { config, sslMode } = poolSettings('postgresql://dke@db.internal:6543/opendke');
    assert.equal(config.host, 'db.internal');
    assert.equal(config.port, 6543);
    assert.equal(config.database, 'opendke');
    assert.equal(config.user, 'dke');
    assert.equal(config.password, undefined);
    assert.equal(sslMode, 'verify-full', 'a remote host gets verified TLS by default');
    assert.deepEqual(config.ssl, { rejectUnauthorized: true });
    assert.equal(config.max, 10);
    assert.equal(config.connectionTimeoutMillis, 5000);
    assert.equal(config.idleTimeoutMillis, 30_000);
    assert.equal(config.statement_timeout, 15_000);
    assert.equal(config.query_timeout, 16_000);
    assert.equal(config.lock_timeout, 5000);
    assert.equal(config.application_name, 'opendke');
    assert.equal(config.keepAlive, true);
    const custom = poolSettings('postgres://dke@127.0.0.1/opendke', {
      maxConnections: 3,
      connectionTimeoutMs: 250,
      idleTimeoutMs: 1000,
      statementTimeoutMs: 2000,
      lockTimeoutMs: 100,
    }).config;
    assert.deepEqual(
      [custom.max, custom.connectionTimeoutMillis, custom.idleTimeoutMillis, custom.statement_timeout],
      [3, 250, 1000, 2000],
    );
    assert.equal(custom.lock_timeout, 100);
    assert.equal(custom.port, 5432);
    assert.throws(
      () => poolSettings('postgres://h/db', { maxConnections: 0 }),
      invalidConfig(/maxConnections/),
    );
    assert.throws(
      () => poolSettings('postgres://h/db', { statementTimeoutMs: 1.5 }),
      invalidConfig(/statementTimeoutMs/),
    );
  });

  void test('loopback and unix sockets default to plain TCP; sslmode from the URL or the options', () => {
    assert.equal(poolSettings('postgres://u@127.0.0.1/db').config.ssl, false);
    assert.equal(poolSettings('postgres://u@localhost/db').config.ssl, false);
    assert.equal(poolSettings('postgres://u@[::1]:5432/db').config.host, '::1');
    const socket = poolSettings('postgres://u@localhost/db?host=/run/postgresql');
    assert.equal(socket.config.host, '/run/postgresql');
    assert.equal(socket.sslMode, 'disable');
    assert.deepEqual(poolSettings('postgres://u@db.example/db?sslmode=require').config.ssl, {
      rejectUnauthorized: false,
    });
    assert.equal(poolSettings('postgres://u@db.example/db', { sslMode: 'disable' }).config.ssl, false);
    assert.throws(
      () => poolSettings('postgres://u@db.example/db?sslmode=disable', { sslMode: 'verify-full' }),
      invalidConfig(/contradicts/),
    );
    assert.throws(
      () => poolSettings('postgres://u@db.example/db?sslmode=prefer'),
      invalidConfig(/sslmode must be one of/),
    );
    assert.throws(
      () => poolSettings('postgres://u@db.example/db?sslmode=require', { caFile: '/x' }),
      invalidConfig(/caFile needs sslMode verify-full/),
    );
    assert.throws(
      () => poolSettings('postgres://u@localhost/db?host=/tmp', { sslMode: 'verify-full' }),
      invalidConfig(/unix socket/),
    );
  });

  void test(
    'verify-full with a CA file reads it; an unreadable one is a config error',
    withTempDir((dir) => {
      const ca = path.join(dir, 'ca.pem');
      fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const { config } = poolSettings('postgres://u@db.example/db', { sslMode: 'verify-full', caFile: ca });
      assert.deepEqual(config.ssl, {
        rejectUnauthorized: true,
        ca: fs.readFileSync(ca, 'utf8'),
      });
      assert.throws(
        () => poolSettings('postgres://u@db.example/db', { caFile: path.join(dir, 'missing.pem') }),
        (e: unknown) =>
          invalidConfig(/CA file/)(e) && /missing\.pem/.test((e as { detail?: string }).detail ?? ''),
      );
    }),
  );

  void test(
    'the password: in the URL, from a file (re-read per connection) or from the environment; one place only',
    withTempDir(async (dir) => {
      assert.equal(await passwordOf(poolSettings('postgres://u:p%40ss@h/db').config), 'p@ss');
      const file = path.join(dir, 'password');
      fs.writeFileSync(file, 'from-file\nignored second line\n');
      const fromFile = poolSettings('postgres://u@h/db', { passwordFile: file }).config;
      assert.equal(await passwordOf(fromFile), 'from-file');
      fs.writeFileSync(file, 'rotated\n');
      assert.equal(await passwordOf(fromFile), 'rotated', 'a rotated password is used by new connections');
      const variable = `DKE_TEST_PASSWORD_${process.pid}`;
      process.env[variable] = 'from-env';
      try {
        assert.equal(
          await passwordOf(poolSettings('postgres://u@h/db', { passwordEnv: variable }).config),
          'from-env',
        );
        assert.throws(
          () => poolSettings('postgres://u:p@h/db', { passwordEnv: variable }),
          invalidConfig(/one place only/),
        );
        assert.throws(
          () => poolSettings('postgres://u@h/db', { passwordEnv: variable, passwordFile: file }),
          invalidConfig(/one place only/),
        );
      } finally {
        delete process.env[variable];
      }
      assert.throws(
        () => poolSettings('postgres://u@h/db', { passwordEnv: variable }),
        invalidConfig(new RegExp(`${variable} .* is not set`)),
      );
      fs.writeFileSync(file, '');
      assert.throws(
        () => poolSettings('postgres://u@h/db', { passwordFile: file }),
        invalidConfig(/password file/),
      );
    }),
  );

  void test('URLs: only postgres:// and postgresql://, a database, known parameters; redacted for logs', () => {
    assert.equal(isPostgresUrl('postgres://h/db'), true);
    assert.equal(isPostgresUrl('PostgreSQL://h/db'), true);
    assert.equal(isPostgresUrl('/var/lib/opendke.db'), false);
    assert.equal(isPostgresUrl('mysql://h/db'), false);
    assert.throws(() => poolSettings('mysql://h/db'), invalidConfig(/postgres:\/\//));
    assert.throws(() => poolSettings('postgres://h/'), invalidConfig(/names no database/));
    assert.throws(
      () => poolSettings('postgres://h/db?sslrootcert=/x'),
      invalidConfig(/unsupported parameter 'sslrootcert'/),
    );
    assert.equal(redactPostgresUrl('postgres://u:secret@h:5/db'), 'postgres://u:***@h:5/db');
    assert.equal(redactPostgresUrl('postgres://u@h/db'), 'postgres://u@h/db');
  });
});

void describe('postgres driver errors', () => {
  const driverError = (message: string, code?: string): Error => Object.assign(new Error(message), { code });

  void test('unreachable, going away or out of time: ERR_STORE_UNAVAILABLE with the driver text in detail', () => {
    for (const error of [
      driverError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'),
      driverError('terminating connection due to administrator command', '57P01'),
      driverError('the database system is starting up', '57P03'),
      driverError('sorry, too many clients already', '53300'),
      driverError('canceling statement due to statement timeout', '57014'),
      driverError('connection failure', '08006'),
      driverError('timeout exceeded when trying to connect'),
      driverError('Connection terminated unexpectedly'),
      driverError('Query read timeout'),
      driverError('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'),
      driverError("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'),
      driverError('The server does not support SSL connections'),
      driverError('password authentication failed for user "dke"', '28P01'),
    ]) {
      const mapped = asStoreError(error);
      assert.equal(mapped.code, 'ERR_STORE_UNAVAILABLE', error.message);
      assert.equal(mapped.status, 503);
      assert.ok(!mapped.message.includes(error.message), 'the public message has no driver text');
      assert.ok(mapped.detail?.includes(error.message));
    }
  });

  void test('lock and serialization conflicts: ERR_STORE_BUSY; anything else ERR_IO; DkeErrors unchanged', () => {
    for (const code of ['55P03', '40001', '40P01']) {
      assert.equal(asStoreError(driverError('conflict', code)).code, 'ERR_STORE_BUSY', code);
    }
    assert.equal(asStoreError(driverError('syntax error', '42601')).code, 'ERR_IO');
    assert.equal(asStoreError(driverError('duplicate key', '23505')).code, 'ERR_IO');
    const own = asStoreError(driverError('x', '57P01'));
    assert.equal(asStoreError(own), own);
  });
});

void describe('postgres text escaping', () => {
  void test('identity for ordinary text; U+0000 and U+FFFF escaped reversibly and injectively', () => {
    for (const plain of ['', 'alice@example.com', 'ümlaut 中文 😀 \ufffd', 'ctl \u0001\u001f\u007f']) {
      assert.equal(encodeText(plain), plain);
    }
    assert.equal(encodeText(null), null);
    const odd = [
      '\u0000',
      '\uffff',
      '\uffff0',
      '\uffff1',
      'a\u0000b\uffffc',
      '\u0000\u0000',
      '\uffff\uffff0',
    ];
    const encoded = odd.map((text) => encodeText(text));
    for (const [i, text] of odd.entries()) {
      assert.ok(!encoded[i]?.includes('\u0000'), 'no U+0000 reaches PostgreSQL');
      assert.equal(decodeText(encoded[i] as string), text);
    }
    assert.equal(new Set(encoded).size, odd.length, 'distinct texts stay distinct');
  });
});
