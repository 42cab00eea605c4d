/** The README's first command: the walk-through must run end to end and every step must hold. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const walkthrough = fileURLToPath(new URL('../src/demo/walkthrough.js', import.meta.url));

test('npm start walk-through: encrypt, decrypt with a receipt, refuse one holder, revoke, witnessed audit, report', async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(process.execPath, [walkthrough], { timeout: 120_000 }, (error, out, err) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
          stdout: out,
          stderr: err,
        }),
      );
    },
  );
  // eslint-disable-next-line no-control-regex -- the path ends where the terminal colour code starts
  const workDir = /Working in ([^\s\u001b]+)/.exec(stdout)?.[1];
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  assert.equal(code, 0, stderr);
  for (const step of [
    'encrypted under two holders',
    'decrypted copy equals the original',
    'refused, naming the missing holder; no output file left behind',
    'decryption refused by the key service',
    'the receipt verifies offline (no network, no database)',
    'checkpoint cosigned by the witness',
    'audit log verifies against the checkpoint the witness cosigned',
    'incident report written, headed by the integrity statement',
    'the console is served at /console/',
  ]) {
    assert.ok(stdout.includes(`\u2713 ${step}`), `missing step: ${step}`);
  }
  assert.match(stdout, /Console: http:\/\/127\.0\.0\.1:\d+\/console\/ {2}sign in as admin \/ [A-Za-z0-9_-]+/);
  assert.match(stdout, /native\.unwrap\tallowed\talice@example\.test/);
  assert.match(stdout, /native\.unwrap\tdenied\talice@example\.test\tcustomer@v1\tERR_KEY_DISABLED/);
  assert.match(stdout, /\u2014 provider\.example\/witness [A-Za-z0-9+/=]+/);
  assert.match(stdout, /\*\*Integrity: VERIFIED: log verified up to size \d+, root [0-9a-f]{64}/);
});
