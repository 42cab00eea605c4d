/**
 * The Integrity page's endpoints over real HTTP (docs/console.md, "Integrity"): a real server with
 * checkpoints every second, a real tlog-witness peer on loopback and the fail-closed rule, the real
 * development issuer. The state with its checkpoint, cosignatures and alarms (not witnessed, a witness
 * failing, a stale cosignature), "Verify now" (and its CSRF check), and a tampered log found by it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IntegrityState, VerificationView } from '../../src/console/integrity-api.js';
import { startConsoleService, type ConsoleService, type HttpSession } from '../support/console.js';
import { logVkeyOf, tamperAuditRecord } from '../support/console-transparency.js';
import { startTestWitness, type TestWitness } from '../support/tlog-witness.js';

/** The fail-closed limit: short, so the stale alarm shows within the test. */
const LIMIT_SECONDS = 4;
const WITNESS = 'witness.test/w1';

let witness: TestWitness;
let service: ConsoleService;
let auditor: HttpSession;

before(async () => {
  witness = await startTestWitness(WITNESS);
  service = await startConsoleService({
    name: 'integrity',
    auditLog: {
      checkpointIntervalSeconds: 1,
      witnesses: [{ url: witness.url, vkey: witness.vkey }],
      quorum: 1,
      requireCosignatureWithinSeconds: LIMIT_SECONDS,
    },
  });
  auditor = await service.signIn('auditor');
});
after(async () => {
  await service.close();
  await witness.close();
});

const state = async (): Promise<IntegrityState> => {
  const answer = await service.call<IntegrityState>(auditor, 'GET', '/integrity');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
};

/** Polls the state until `check` holds (the checkpointer and the witness client run on timers). */
async function stateWhen(what: string, check: (s: IntegrityState) => boolean): Promise<IntegrityState> {
  const end = Date.now() + 20_000;
  for (;;) {
    const current = await state();
    if (check(current)) return current;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(current)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const kinds = (s: IntegrityState): string[] => s.alarms.map((a) => a.kind);

test('no role: every integrity endpoint is 403', async () => {
  const nobody = await service.signIn('nobody');
  for (const [method, url] of [
    ['GET', '/integrity'],
    ['POST', '/integrity/verify'],
  ] as const) {
    const answer = await service.call(nobody, method, url);
    assert.equal(answer.status, 403, url);
    assert.equal(answer.body.error, 'ERR_CONSOLE_ROLE_REQUIRED');
  }
});

test('before the witness knows our log: the fail-closed rule is not met and the witness refuses', async () => {
  const current = await stateWhen(
    'a refused submission',
    (s) => s.checkpoint !== undefined && s.witnesses[0]?.lastOutcome === 'refused',
  );
  assert.deepEqual(current.rules, {
    checkpointIntervalSeconds: 1,
    quorum: 1,
    requireCosignatureWithinSeconds: LIMIT_SECONDS,
    staleAfterSeconds: LIMIT_SECONDS,
    staleBasis: 'configured',
    witnessHealth: 'unwitnessed',
  });
  assert.ok(kinds(current).includes('not-witnessed'), kinds(current).join());
  const failing = current.alarms.find((a) => a.kind === 'witness-failing');
  assert.equal(failing?.witness, WITNESS);
  assert.match(failing?.message ?? '', /refused/);
});

test('witnessed: the latest checkpoint with its cosignature and age, no alarm', async () => {
  witness.logVkey = logVkeyOf(service.configFile);
  const current = await stateWhen(
    'a cosigned latest checkpoint',
    (s) => (s.checkpoint?.cosignatures.length ?? 0) > 0 && s.alarms.length === 0,
  );
  const checkpoint = current.checkpoint;
  assert.ok(checkpoint !== undefined);
  assert.equal(checkpoint.origin, `localhost:${new URL(service.origin).port}/opendke/audit`);
  assert.match(checkpoint.rootHash, /^[0-9a-f]{64}$/);
  assert.ok(checkpoint.noteText.startsWith(`${checkpoint.origin}\n${checkpoint.size}\n`));
  assert.deepEqual(checkpoint.signedBy, [checkpoint.origin]);
  assert.ok(checkpoint.size >= 1 && checkpoint.size <= current.log.size);
  const [cosigned] = checkpoint.cosignatures;
  assert.equal(cosigned?.witness, WITNESS);
  assert.ok((cosigned?.ageSeconds ?? -1) >= 0 && (cosigned?.ageSeconds ?? 99) <= LIMIT_SECONDS);
  const [w] = current.witnesses;
  assert.equal(w?.name, WITNESS);
  assert.equal(w?.url, witness.url);
  assert.equal(w?.stale, false);
  assert.equal(w?.lastOutcome, 'cosigned');
  assert.equal(current.rules?.witnessHealth, 'ok');
  assert.match(current.log.chainHead ?? '', /^[0-9a-f]{64}$/);
});

test('verify now: the whole log against the checkpoint; kept for the page; a change needs CSRF', async () => {
  const forged = await service.call(auditor, 'POST', '/integrity/verify', { csrf: false });
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error, 'ERR_CSRF');

  const answer = await service.call<{ verification: VerificationView }>(auditor, 'POST', '/integrity/verify');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { verification } = answer.body;
  assert.equal(verification.verified, true);
  assert.ok(verification.size >= (verification.checkpoint?.size ?? Infinity));
  assert.match(verification.rootHash ?? '', /^[0-9a-f]{64}$/);
  assert.match(verification.chainHead ?? '', /^[0-9a-f]{64}$/);
  assert.ok(verification.durationMs >= 0);
  assert.equal(verification.firstBroken, undefined);
  const after = await state();
  assert.deepEqual(after.lastVerification, verification);
  assert.equal(after.verifying, false);

  // Concurrent calls: all answered (one verification at a time, the others join or follow it).
  const many = await Promise.all(
    [1, 2, 3].map(() =>
      service.call<{ verification: VerificationView }>(auditor, 'POST', '/integrity/verify'),
    ),
  );
  for (const one of many) assert.equal(one.body.verification.verified, true);

  const records = await service.auditRecords();
  const mine = records.filter((r) => r.subject === 'audrey').map((r) => `${r.action} ${r.result}`);
  for (const expected of [
    'console.integrity.get ok',
    'console.integrity.verify ok',
    'console.integrity.verify denied',
  ]) {
    assert.ok(mine.includes(expected), `${expected} in ${mine.join(', ')}`);
  }
});

test('a witness refusing, then its cosignature goes stale: both alarms', async () => {
  witness.forceStatus = 422;
  try {
    const current = await stateWhen('a stale cosignature', (s) => kinds(s).includes('stale-cosignature'));
    const stale = current.alarms.find((a) => a.kind === 'stale-cosignature');
    assert.equal(stale?.witness, WITNESS);
    assert.match(stale?.message ?? '', new RegExp(`stale after ${LIMIT_SECONDS} s`));
    assert.ok(kinds(current).includes('witness-failing'));
    assert.ok(kinds(current).includes('not-witnessed'));
    assert.equal(current.witnesses[0]?.stale, true);
  } finally {
    witness.forceStatus = undefined;
  }
});

test('a tampered log: verify now names the first broken record; the alarm stays', async () => {
  await tamperAuditRecord(service.dir, 3);
  const answer = await service.call<{ verification: VerificationView }>(auditor, 'POST', '/integrity/verify');
  assert.equal(answer.status, 200);
  const { verification } = answer.body;
  assert.equal(verification.verified, false);
  assert.equal(verification.size, 2);
  assert.equal(verification.firstBroken?.seq, 3);
  assert.match(verification.firstBroken?.reason ?? '', /does not match its hash/);
  const current = await state();
  const alarm = current.alarms.find((a) => a.kind === 'verification-failed');
  assert.match(alarm?.message ?? '', /failed at record 3: the record does not match its hash/);
  assert.equal(current.lastVerification?.verified, false);
});
