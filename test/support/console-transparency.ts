/**
 * The console tests' audit log transparency: a console config (test/support/console.ts) with `audit.log`
 * added (checkpoints, witnesses, the fail-closed rule), and the log's vkey as an operator gets it
 * (`dke audit key`), for the test witness to know our log; and a record changed behind the log's back, as
 * someone with write access to the database would, for verification to find.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openSqliteStore } from '../../src/store/index.js';
import { cliPath } from './paths.js';
import { envWithoutDke } from './server-process.js';

/** Adds `audit.log` to the config file in place. */
export function withAuditLog(configFile: string, log: Record<string, unknown>): void {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(configFile, JSON.stringify({ ...config, audit: { log } }, null, 2));
}

/** `dke audit key -c <config>`: the log's note verifier key. */
export function logVkeyOf(configFile: string): string {
  const run = spawnSync(process.execPath, [cliPath, 'audit', 'key', '-c', configFile], {
    encoding: 'utf8',
    env: envWithoutDke(),
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

/** Changes the user name of audit record `seq` in `dir`/dke.db (dropping the trigger that forbids it). */
export async function tamperAuditRecord(dir: string, seq: number): Promise<void> {
  const store = openSqliteStore(path.join(dir, 'dke.db'));
  try {
    store
      .unsafeDatabase()
      .exec(
        `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET user_name = 'mallory' WHERE seq = ${seq}`,
      );
  } finally {
    await store.close();
  }
}
