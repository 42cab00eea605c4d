/**
 * The cluster's leader and followers (src/service/log-transparency.ts, docs/deploy.md "Every core"): two
 * servers on one SQLite store, the harness's as the leader (worker 1) and a follower (worker 2), with a real
 * HTTP tlog-witness and the fail-closed witness rule. Only the leader submits to the witness; the follower
 * publishes the checkpoints the leader persisted and releases keys once the leader's cosignature is stored.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { startServer, type RunningServer } from '../../src/service/server.js';
import { cliPath } from '../support/paths.js';
import { startTestWitness, type TestWitness } from '../support/tlog-witness.js';
import { requestAt, startHarness, type Harness, type HttpAnswer } from './harness.js';

const ALICE = 'alice@example.test';

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

void describe('cluster roles: worker 1 leads, the others follow the store', () => {
  let h: Harness;
  let witness: TestWitness;
  let follower: RunningServer;
  let alice: string;
  let stanza: string;

  const unwrapAt = (url: string): Promise<HttpAnswer> =>
    requestAt(url, 'POST', '/keys/docs/unwrap', { token: alice, body: { stanza } });

  before(async () => {
    witness = await startTestWitness();
    h = await startHarness({
      audit: {
        log: {
          checkpointIntervalSeconds: 1,
          witnesses: [{ url: witness.url, vkey: witness.vkey }],
          requireCosignatureWithinSeconds: 60,
        },
      },
    });
    follower = await startServer(h.config, {
      logDestination: { write: () => undefined },
      env: {},
      worker: { id: 2, leader: false },
    });
    const admin = await h.adminToken();
    alice = await h.token({ upn: ALICE });
    const created = await h.request('POST', '/admin/keys', {
      token: admin,
      body: { name: 'docs', spec: 'P-256', policy: { users: [ALICE] } },
    });
    assert.equal(created.status, 201, created.text);
    const published = await h.request('GET', '/keys/docs');
    stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
      objectId: randomBytes(16),
      keyId: published.json?.keyId as string,
    });
  });

  after(async () => {
    await follower?.close();
    await h?.close();
    await witness?.close();
  });

  it('both refuse releases until a cosignature is stored; the follower releases once the leader got one', async () => {
    for (const url of [h.server.url, follower.url]) {
      const refused = await unwrapAt(url);
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.json?.error, 'ERR_NOT_WITNESSED');
    }
    const vkey = spawnSync(process.execPath, [cliPath, 'audit', 'key', '-c', h.configFile], {
      encoding: 'utf8',
      env: { ...process.env, DKE_MASTER_KEY: '' },
    });
    assert.equal(vkey.status, 0, vkey.stderr);
    witness.logVkey = vkey.stdout.trim();
    await waitFor('the leader to release', async () => (await unwrapAt(h.server.url)).status === 200);
    await waitFor('the follower to release', async () => (await unwrapAt(follower.url)).status === 200);
  });

  it('the follower publishes what the leader persisted and never submits to the witness itself', async () => {
    const size = async (url: string): Promise<number> => {
      const answer = await requestAt(url, 'GET', '/audit/checkpoint');
      assert.equal(answer.status, 200, answer.text);
      return Number(answer.text.split('\n')[1]);
    };
    const before = await size(h.server.url);
    for (let i = 0; i < 5; i += 1) assert.equal((await unwrapAt(follower.url)).status, 200);
    // The leader persists every second while the tree grew; the follower reads it from the store. Each
    // unwrap appends at least one record, so the checkpoint must grow by 5 to cover the follower's records.
    await waitFor('the leader to checkpoint the follower’s records', async () => {
      const leaders = await size(h.server.url);
      return leaders >= before + 5 && (await size(follower.url)) === leaders;
    });

    // Without the leader, nothing is submitted any more, while the follower keeps serving (and appending).
    await h.server.close();
    const submissions = witness.answers.length;
    for (let i = 0; i < 5; i += 1) assert.equal((await unwrapAt(follower.url)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal(witness.answers.length, submissions, 'the follower submitted nothing');
    // The harness's close() closes its server again: give it a running one.
    h.server = await startServer(h.config, {
      logDestination: { write: () => undefined },
      env: {},
      worker: { id: 3, leader: false },
    });
  });
});
