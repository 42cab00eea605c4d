/**
 * dke serve with its keys in a SoftHSM2 token that goes away in the middle of a load of native unwraps
 * (its files moved away and the module finalized underneath the running service) and comes back:
 * unwraps answer 503 ERR_HSM_UNAVAILABLE while it is gone and /healthz says so; no 200 without its
 * audit record and every 503 audited as failed; once the token is back the service recovers by itself,
 * without a restart, and the same keys unwrap the same shares.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { JWK } from 'jose';
import pkcs11js from 'pkcs11js';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { createToken, skipWithoutToken, type TestToken } from '../support/tokens.js';
import { startHarness, type Harness, type HttpAnswer } from './harness.js';
import { auditRecords, verifyAudit } from './audit-reader.js';

const ALICE = 'alice@example.test';

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe(
  'dke serve: the token goes away mid-load and comes back',
  { skip: skipWithoutToken('softhsm') },
  () => {
    let token: TestToken;
    let h: Harness;
    let alice: string;

    before(async () => {
      token = createToken('softhsm');
      h = await startHarness({ keys: { backends: { pkcs11: { ...token.config, sessions: 4 } } } });
      const admin = await h.adminToken();
      alice = await h.token({ upn: ALICE });
      const created = await h.request('POST', '/admin/keys', {
        token: admin,
        body: { name: 'docs', spec: 'P-256', backend: 'pkcs11', policy: { users: [ALICE] } },
      });
      assert.equal(created.status, 201, created.text);
    });
    after(async () => {
      await h?.close();
      token?.remove();
    });

    it('503 and an unhealthy /healthz while it is gone, every answer audited, recovered by itself', async () => {
      const published = await h.request('GET', '/keys/docs');
      assert.equal(published.status, 200, published.text);
      const publicKey = publicKeyFromJwk(published.json?.jwk as JWK);
      const keyId = published.json?.keyId as string;
      const stanzas = await Promise.all(
        Array.from({ length: 16 }, async () => {
          const share = randomBytes(32);
          const objectId = randomBytes(16);
          return { share, stanza: await wrapShare(share, publicKey, { objectId, keyId }) };
        }),
      );

      const answers: { phase: string; answer: HttpAnswer; share: Buffer }[] = [];
      let phase = 'before';
      let stop = false;
      let paused = false;
      let inFlight = 0;
      const worker = async (offset: number): Promise<void> => {
        for (let i = offset; !stop; i += 4) {
          if (paused) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            continue;
          }
          const { share, stanza } = stanzas[i % stanzas.length] as (typeof stanzas)[number];
          inFlight += 1;
          const answer = await h.request('POST', '/keys/docs/unwrap', { body: { stanza }, token: alice });
          inFlight -= 1;
          answers.push({ phase, answer, share });
        }
      };
      const workers = [0, 1, 2, 3].map(worker);
      await until(() => answers.filter((a) => a.answer.status === 200).length >= 20, 'the load runs');

      // "Pull the device" in the middle of the load: its files go away, the module is finalized underneath
      // the service. The clients hold back for that moment only: C_Finalize while another thread is inside
      // the module is undefined in PKCS#11 and crashes the software tokens (a real device removal shows up as
      // CKR_DEVICE_REMOVED from the calls instead), so the finalize happens between operations.
      paused = true;
      await until(() => inFlight === 0, 'the requests in flight finish');
      const p11 = new pkcs11js.PKCS11();
      p11.load(token.config.module);
      const tokenDir = token.tokenDir as string;
      fs.renameSync(tokenDir, `${tokenDir}.away`);
      p11.C_Finalize();
      phase = 'pulled';
      paused = false;
      await until(() => answers.some((a) => a.answer.status === 503), 'unwraps answer 503');
      await until(async () => {
        const health = await h.request('GET', '/healthz');
        return health.json?.status === 'degraded' && health.json.token !== 'ready';
      }, '/healthz says the token is unavailable');
      // From here on, while it stays gone, nothing but 503.
      phase = 'gone';
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const gone = answers.filter((a) => a.phase === 'gone');
      assert.ok(gone.length > 0);
      for (const { answer } of gone) {
        assert.equal(answer.status, 503, answer.text);
        assert.deepEqual(answer.json, {
          error: 'ERR_HSM_UNAVAILABLE',
          message: 'key token unavailable, retry later',
        });
      }

      // "Plug it back in": the service reconnects by itself.
      fs.renameSync(`${tokenDir}.away`, tokenDir);
      phase = 'back';
      await until(
        async () => (await h.request('GET', '/healthz')).json?.token === 'ready',
        '/healthz ready again',
      );
      await until(
        () => answers.filter((a) => a.phase === 'back' && a.answer.status === 200).length >= 20,
        'unwraps succeed again',
      );
      stop = true;
      await Promise.all(workers);

      // Every 200 carries the right share; only 200 and 503 were answered.
      for (const { answer, share } of answers) {
        assert.ok([200, 503].includes(answer.status), answer.text);
        if (answer.status === 200) assert.equal(answer.json?.share, share.toString('base64url'));
      }
      // No 200 without its audit record, and every 503 is recorded as failed with its reason.
      const records = (await auditRecords(h, { keyName: 'docs' })).filter(
        (r) => r.action === 'native.unwrap',
      );
      const ok = answers.filter((a) => a.answer.status === 200).length;
      const refused = answers.filter((a) => a.answer.status === 503).length;
      assert.equal(records.filter((r) => r.result === 'allowed').length, ok);
      const failed = records.filter((r) => r.result === 'failed');
      assert.equal(failed.length, refused);
      assert.ok(failed.every((r) => r.reason === 'ERR_HSM_UNAVAILABLE'));
      assert.equal((await verifyAudit(h)).ok, true);
      // The service logged the loss and the recovery.
      assert.ok(h.logs.some((line) => line.includes('PKCS#11 token not available')));
      assert.ok(h.logs.some((line) => line.includes('PKCS#11 token ready')));
    });
  },
);
