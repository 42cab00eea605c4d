/**
 * The console tests' audit log transparency: a console config (test/support/console.ts) with `audit.log`
 * added (checkpoints, witnesses, the fail-closed rule), and the log's vkey as an operator gets it
 * (`dke audit key`), for the test witness to know our log.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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
