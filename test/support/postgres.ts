/**
 * Real PostgreSQL for the tests. scripts/test.sh starts a throwaway cluster and exports its URL in
 * DKE_TEST_POSTGRES_URL (docs/storage.md, "Testing against PostgreSQL"); without it, PostgreSQL tests skip
 * and say why, except under CI=true, where a missing PostgreSQL fails the run. Every test gets a database
 * of its own (created with a random name, dropped afterwards), so test files run in parallel. Tests that
 * stop the server start a cluster of their own (`TestCluster`).
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import pg from 'pg';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

export const POSTGRES_URL_VARIABLE = 'DKE_TEST_POSTGRES_URL';
const CLUSTER_SCRIPT = path.join(repoRoot, 'scripts', 'postgres-test-cluster.sh');

/** The server's URL (superuser, `postgres` database), or undefined when none was given. */
export function postgresAdminUrl(): string | undefined {
  const url = process.env[POSTGRES_URL_VARIABLE];
  return url === undefined || url === '' ? undefined : url;
}

const inCi = (): boolean => process.env.CI === 'true';

/**
 * Runs `body` (which defines tests) when PostgreSQL is available. Otherwise defines one test that is
 * skipped with the reason, or, under CI=true, fails: CI must not pass without having run them.
 */
export function whenPostgres(what: string, body: (adminUrl: string) => void): void {
  const url = postgresAdminUrl();
  if (url !== undefined) {
    body(url);
    return;
  }
  const reason = `${POSTGRES_URL_VARIABLE} is not set: no PostgreSQL server to run ${what} against (npm test starts one; see docs/storage.md)`;
  if (inCi()) {
    void test(what, () => {
      throw new Error(`CI=true but ${reason}`);
    });
  } else {
    void test(what, { skip: reason }, () => undefined);
  }
}

/** `url` with another database (and, optionally, without its password). */
export function withDatabase(url: string, database: string, dropPassword = false): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  if (dropPassword) parsed.password = '';
  return parsed.toString();
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  readonly name: string;
  /** The server URL pointing at this database. */
  readonly url: string;
  /** Drops the database, ending any connection still open to it. Idempotent. */
  drop(): Promise<void>;
}

export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `opendke_test_${crypto.randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () => (dropped ??= adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** Runs raw SQL on a database (test setup and inspection only). */
export async function withClient<T>(
  target: string | pg.ClientConfig,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(typeof target === 'string' ? { connectionString: target } : target);
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A PostgreSQL cluster of a test's own (scripts/postgres-test-cluster.sh), for tests that stop and restart
 * the server. Needs the server binaries (installed by the script when root) and, as root, `runuser`.
 */
export class TestCluster {
  private constructor(
    readonly dir: string,
    /** Superuser URL of the `postgres` database, password included. */
    readonly url: string,
  ) {}

  static async start(): Promise<TestCluster> {
    const dir = fs.mkdtempSync('/tmp/opendke-pg-');
    try {
      const { stdout } = await run('sh', [CLUSTER_SCRIPT, 'start', dir], { timeout: 300_000 });
      return new TestCluster(dir, stdout.trim());
    } catch (error) {
      await run('sh', [CLUSTER_SCRIPT, 'stop', dir]).catch(() => undefined);
      throw error;
    }
  }

  /** Fast shutdown: every connection gets 57P01 (admin shutdown); the data stays. */
  async halt(): Promise<void> {
    await run('sh', [CLUSTER_SCRIPT, 'halt', this.dir], { timeout: 120_000 });
  }

  /** Starts the server again on the same port. */
  async resume(): Promise<void> {
    await run('sh', [CLUSTER_SCRIPT, 'resume', this.dir], { timeout: 120_000 });
  }

  /** Stops the server and removes its directory. */
  async stop(): Promise<void> {
    await run('sh', [CLUSTER_SCRIPT, 'stop', this.dir], { timeout: 120_000 });
  }
}
