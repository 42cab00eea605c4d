/**
 * Our audit log's transparency end to end (docs/audit.md "Checkpoints", "Receipts", "Witness submission"):
 * a real server over real HTTP with real SQLite; vkeys from `dke audit key`; a real HTTP tlog-witness peer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, publicEncrypt, constants, randomBytes, type KeyObject } from 'node:crypto';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import {
  cosignatureVerifier,
  noteVerifier,
  openCheckpoint,
  parseTlogProof,
  verifyConsistency,
  verifyCosignatures,
  verifyTlogProof,
  type NoteVerifier,
} from '../../src/transparency/index.js';
import { cliPath } from '../support/paths.js';
import { startTestWitness, type TestWitness } from '../support/tlog-witness.js';
import { startHarness, type Harness } from './harness.js';
import { assertError } from './assertions.js';

const ALICE = 'alice@example.test';

function dke(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DKE_MASTER_KEY: '' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The log's vkey as an operator gets it. */
function logVkey(h: Harness): string {
  const run = dke('audit', 'key', '-c', h.configFile);
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

/** The canonical record array a receipt's extra data carries. */
function recordOf(extra: Buffer | undefined): unknown[] {
  assert.ok(extra !== undefined, 'the receipt carries the record');
  return JSON.parse(extra.toString('utf8')) as unknown[];
}

/** Verifies a receipt/bundle as a client would: the entry is the extra data; index = seq - 1. */
function verifyReceipt(text: string, verifier: NoteVerifier): { record: unknown[]; size: bigint } {
  const extra = parseTlogProof(text).extra;
  const verified = verifyTlogProof(text, { entry: extra ?? Buffer.alloc(0) }, verifier);
  const record = recordOf(verified.extra);
  assert.equal(record[0], 'opendke.audit.v1');
  assert.equal(BigInt(record[1] as number) - 1n, verified.index, 'index is seq - 1');
  return { record, size: verified.checkpoint.size };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Wrapped {
  readonly objectId: string;
  readonly stanza: string;
  readonly keyId: string;
}

async function setUp(h: Harness, name: string): Promise<{ admin: string; alice: string }> {
  const admin = await h.adminToken();
  const alice = await h.token({ upn: ALICE });
  const created = await h.request('POST', '/admin/keys', {
    token: admin,
    body: { name, spec: 'P-256', policy: { users: [ALICE] } },
  });
  assert.equal(created.status, 201, created.text);
  return { admin, alice };
}

async function wrapFor(h: Harness, name: string): Promise<Wrapped> {
  const published = await h.request('GET', `/keys/${name}`);
  const objectId = randomBytes(16);
  const keyId = published.json?.keyId as string;
  const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
    objectId,
    keyId,
  });
  return { objectId: objectId.toString('base64url'), stanza, keyId };
}

async function checkpointNow(h: Harness, admin: string): Promise<{ size: number; rootHash: Buffer }> {
  const answer = await h.request('POST', '/admin/audit/checkpoint', { token: admin });
  assert.equal(answer.status, 200, answer.text);
  return {
    size: answer.json?.size as number,
    rootHash: Buffer.from(answer.json?.rootHash as string, 'base64'),
  };
}

describe('audit log transparency: checkpoints, receipts, proofs', () => {
  let h: Harness;
  let admin: string;
  let alice: string;
  let verifier: NoteVerifier;

  before(async () => {
    h = await startHarness({ audit: { log: { checkpointIntervalSeconds: 1 } } });
    ({ admin, alice } = await setUp(h, 'docs'));
    verifier = noteVerifier(logVkey(h));
  });
  after(() => h.close());

  it('the log vkey names the default origin', () => {
    assert.equal(verifier.name, 'localhost/opendke/audit');
  });

  it('a native unwrap answer carries a receipt that verifies against the printed vkey', async () => {
    const wrapped = await wrapFor(h, 'docs');
    const answer = await h.request('POST', '/keys/docs/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    assert.equal(answer.status, 200, answer.text);
    const { record, size } = verifyReceipt(answer.json?.receipt as string, verifier);
    assert.equal(record[4], 'native.unwrap');
    assert.equal(record[5], 'allowed');
    assert.equal(record[12], wrapped.keyId);
    assert.equal(record[13], wrapped.objectId);
    assert.equal(record[15], answer.headers.get('x-request-id'));
    assert.ok(size >= BigInt(record[1] as number));
    // A receipt for another record's bytes does not verify.
    assert.throws(
      () => verifyTlogProof(answer.json?.receipt as string, { entry: Buffer.from('["x"]') }, verifier),
      /does not lead to the root/,
    );
  });

  it('the admin receipt route proves a Microsoft DKE decrypt by its request id', async () => {
    const created = await h.request('POST', '/admin/keys', {
      token: admin,
      body: { name: 'office', protocol: 'ms-dke', policy: { users: [ALICE] } },
    });
    assert.equal(created.status, 201, created.text);
    const published = await h.request('GET', '/office');
    const body = published.json as { key: { n: string; e: number; kid: string } };
    const e = Buffer.alloc(4);
    e.writeUInt32BE(body.key.e);
    const publicKey: KeyObject = createPublicKey({
      key: {
        kty: 'RSA',
        n: Buffer.from(body.key.n, 'base64').toString('base64url'),
        e: e.subarray(e.findIndex((b) => b !== 0)).toString('base64url'),
      },
      format: 'jwk',
    });
    const value = publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      randomBytes(32),
    ).toString('base64');
    const decrypted = await h.request('POST', `${new URL(body.key.kid).pathname}/decrypt`, {
      token: alice,
      body: { alg: 'RSA-OAEP-256', value },
    });
    assert.equal(decrypted.status, 200, decrypted.text);
    assert.deepEqual(Object.keys(decrypted.json ?? {}), ['value'], 'the MS DKE answer shape is unchanged');
    const requestId = decrypted.headers.get('x-request-id') as string;
    const answer = await h.request('GET', `/admin/audit/receipt?request=${requestId}`, { token: admin });
    assert.equal(answer.status, 200, answer.text);
    const receipts = answer.json?.receipts as string[];
    assert.equal(receipts.length, 1);
    const { record } = verifyReceipt(receipts[0] as string, verifier);
    assert.equal(record[4], 'ms-dke.decrypt');
    assert.equal(record[5], 'allowed');
    assert.equal(record[15], requestId);
    const none = await h.request('GET', '/admin/audit/receipt?request=no-such-request', { token: admin });
    assert.deepEqual(none.json, { receipts: [] });
    assertError(await h.request('GET', '/admin/audit/receipt', { token: admin }), 'ERR_BAD_REQUEST', 400);
    assertError(
      await h.request('GET', `/admin/audit/receipt?request=${requestId}`, { token: alice }),
      'ERR_ADMIN_REQUIRED',
      403,
    );
  });

  it('GET /audit/checkpoint serves the persisted checkpoint; consistency proofs verify between two', async () => {
    const first = await checkpointNow(h, admin);
    const served = await h.request('GET', '/audit/checkpoint');
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'text/plain; charset=utf-8');
    const opened = openCheckpoint(served.text, verifier);
    assert.equal(opened.checkpoint.size, BigInt(first.size));
    assert.ok(opened.checkpoint.rootHash.equals(first.rootHash));

    const wrapped = await wrapFor(h, 'docs');
    await h.request('POST', '/keys/docs/unwrap', { token: alice, body: { stanza: wrapped.stanza } });
    const second = await checkpointNow(h, admin);
    assert.ok(second.size > first.size);
    const proof = await h.request('GET', `/audit/consistency?old=${first.size}&new=${second.size}`);
    assert.equal(proof.status, 200, proof.text);
    const hashes = proof.text
      .split('\n')
      .filter(Boolean)
      .map((line) => Buffer.from(line, 'base64'));
    verifyConsistency(first.size, second.size, hashes, first.rootHash, second.rootHash);
    assert.throws(() => verifyConsistency(first.size, second.size, hashes, second.rootHash, first.rootHash));

    for (const query of [
      'old=01&new=2',
      'old=-1&new=2',
      'old=1&new=2.0',
      'old=1',
      'old=1&new=2&x=1',
      'old=3&new=2',
    ]) {
      assertError(await h.request('GET', `/audit/consistency?${query}`), 'ERR_BAD_REQUEST', 400);
    }
    assertError(
      await h.request('GET', `/audit/consistency?old=1&new=${second.size + 1_000_000}`),
      'ERR_BAD_REQUEST',
      400,
    );
  });

  it('the interval persists checkpoints while records arrive', async () => {
    const before = openCheckpoint((await h.request('GET', '/audit/checkpoint')).text, verifier).checkpoint
      .size;
    const wrapped = await wrapFor(h, 'docs');
    await h.request('POST', '/keys/docs/unwrap', { token: alice, body: { stanza: wrapped.stanza } });
    await waitFor('a newer persisted checkpoint', async () => {
      const text = (await h.request('GET', '/audit/checkpoint')).text;
      return openCheckpoint(text, verifier).checkpoint.size > before;
    });
  });

  it('dke audit prove writes a bundle that verifies; a record past the checkpoint is a clear error', async () => {
    const wrapped = await wrapFor(h, 'docs');
    const answer = await h.request('POST', '/keys/docs/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    const requestId = answer.headers.get('x-request-id') as string;
    await checkpointNow(h, admin);
    const out = path.join(h.dir, 'bundle.txt');
    const run = dke('audit', 'prove', requestId, '-c', h.configFile, '-o', out);
    assert.equal(run.status, 0, run.stderr);
    const bundle = readFileSync(out, 'utf8');
    const { record } = verifyReceipt(bundle, verifier);
    assert.equal(record[15], requestId);
    // By entry index, to standard output: the same record.
    const byIndex = dke('audit', 'prove', String((record[1] as number) - 1), '-c', h.configFile);
    assert.equal(byIndex.status, 0, byIndex.stderr);
    assert.deepEqual(verifyReceipt(byIndex.stdout, verifier).record, record);

    // The interval (1 s) may persist a checkpoint covering the new record before `dke audit prove` reads
    // it (then it proves, exit 0): a fresh record is tried until one is still past the checkpoint.
    let tooNew: ReturnType<typeof dke> | undefined;
    for (let attempt = 0; attempt < 10 && tooNew?.status !== 2; attempt++) {
      const later = await h.request('POST', '/keys/docs/unwrap', {
        token: alice,
        body: { stanza: (await wrapFor(h, 'docs')).stanza },
      });
      tooNew = dke('audit', 'prove', later.headers.get('x-request-id') as string, '-c', h.configFile);
      assert.ok(tooNew.status === 0 || tooNew.status === 2, tooNew.stderr);
    }
    assert.ok(tooNew !== undefined);
    assert.equal(tooNew.status, 2, tooNew.stderr);
    assert.match(tooNew.stderr, /newer than the latest persisted checkpoint/);
    assert.match(tooNew.stderr, /POST \/admin\/audit\/checkpoint/);
    assert.equal(tooNew.stdout, '');
    const unknown = dke('audit', 'prove', 'no-such-request', '-c', h.configFile);
    assert.equal(unknown.status, 2);
  });

  it('a restart keeps the log key, and the new checkpoint is consistent with the old one', async () => {
    const old = await checkpointNow(h, admin);
    const vkey = logVkey(h);
    await h.restart();
    assert.equal(logVkey(h), vkey);
    const wrapped = await wrapFor(h, 'docs');
    const answer = await h.request('POST', '/keys/docs/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    verifyReceipt(answer.json?.receipt as string, noteVerifier(vkey));
    const fresh = await checkpointNow(h, admin);
    const proof = await h.request('GET', `/audit/consistency?old=${old.size}&new=${fresh.size}`);
    const hashes = proof.text
      .split('\n')
      .filter(Boolean)
      .map((line) => Buffer.from(line, 'base64'));
    verifyConsistency(old.size, fresh.size, hashes, old.rootHash, fresh.rootHash);
  });
});

describe('audit log transparency: receipts off', () => {
  let h: Harness | undefined;
  after(() => h?.close());
  it('audit.log.receipts false: the unwrap answer has no receipt', async () => {
    const s = await startHarness({ audit: { log: { receipts: false } } });
    h = s;
    const { alice } = await setUp(s, 'plain');
    const wrapped = await wrapFor(s, 'plain');
    const answer = await s.request('POST', '/keys/plain/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json?.receipt, undefined);
  });
});

describe('audit log transparency: witness submission and the fail-closed rule', () => {
  let h: Harness;
  let witness: TestWitness;
  let admin: string;
  let alice: string;
  let verifier: NoteVerifier;

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
    const vkey = logVkey(h);
    verifier = noteVerifier(vkey);
    admin = await h.adminToken();
    alice = await h.token({ upn: ALICE });
  });
  after(async () => {
    await h.close();
    await witness.close();
  });

  it('before any cosignature releases fail closed (503, no key material); once cosigned they work', async () => {
    ({ admin, alice } = await setUp(h, 'guarded'));
    const wrapped = await wrapFor(h, 'guarded');
    const refused = await h.request('POST', '/keys/guarded/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    assertError(refused, 'ERR_NOT_WITNESSED', 503);
    assert.equal(refused.json?.share, undefined);
    const health = await h.request('GET', '/healthz');
    assert.deepEqual(health.json, { status: 'degraded', store: 'ok', witnesses: 'unwitnessed' });

    witness.logVkey = logVkey(h); // the witness now knows our log
    await checkpointNow(h, admin);
    // The served note, once it carries the cosignature (the ticker may publish a newer, not yet cosigned
    // checkpoint right after: the admin call's own `ok` record grew the tree).
    let served = '';
    await waitFor(
      'a cosigned checkpoint',
      async () => {
        served = (await h.request('GET', '/audit/checkpoint')).text;
        return served.includes('witness.test/w1');
      },
      20_000,
    );
    openCheckpoint(served, verifier);
    verifyCosignatures(served, [cosignatureVerifier(witness.vkey)], { quorum: 1, maxAgeSeconds: 60 });

    const allowed = await h.request('POST', '/keys/guarded/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    assert.equal(allowed.status, 200, allowed.text);
    assert.deepEqual((await h.request('GET', '/healthz')).json, {
      status: 'ok',
      store: 'ok',
      witnesses: 'ok',
    });
    const metrics = (await h.request('GET', '/metrics')).text;
    assert.match(
      metrics,
      /dke_audit_witness_submissions_total\{witness="witness.test\/w1",outcome="cosigned"\} [1-9]/,
    );
    assert.match(metrics, /dke_audit_checkpoints_signed_total [1-9]/);
    assert.match(metrics, /dke_audit_quorum_cosignature_age_seconds [0-9]/);
  });

  it('dke audit prove includes the stored cosignature: the bundle meets a witness quorum', async () => {
    const text = (await h.request('GET', '/audit/checkpoint')).text;
    const size = Number(openCheckpoint(text, verifier).checkpoint.size);
    const run = dke('audit', 'prove', String(size - 1), '-c', h.configFile);
    assert.equal(run.status, 0, run.stderr);
    const extra = parseTlogProof(run.stdout).extra ?? Buffer.alloc(0);
    const verified = verifyTlogProof(run.stdout, { entry: extra }, verifier, {
      witnesses: [cosignatureVerifier(witness.vkey)],
      quorum: 1,
    });
    assert.equal(verified.cosigners[0]?.name, 'witness.test/w1');
  });

  it('on 409 the submitter retries from the size the witness knows', async () => {
    // The witness forgets its newest cosignature (as after a restore): it knows an older, real checkpoint.
    const older = witness.state;
    const wrapped = await wrapFor(h, 'guarded');
    await h.request('POST', '/keys/guarded/unwrap', { token: alice, body: { stanza: wrapped.stanza } });
    await checkpointNow(h, admin);
    await waitFor('the cosignature', () => witness.state.size > older.size);
    const newer = witness.state;
    witness.state = older;
    witness.answers.length = 0;
    await h.request('POST', '/keys/guarded/unwrap', { token: alice, body: { stanza: wrapped.stanza } });
    const latest = await checkpointNow(h, admin);
    await waitFor('the retried cosignature', () => witness.state.size >= latest.size);
    assert.deepEqual(witness.answers.slice(0, 2), [409, 200]);
    assert.ok(newer.size < latest.size);
  });

  it('a witness refusing with 422 is an error in metrics and /healthz', async () => {
    witness.forceStatus = 422;
    witness.answers.length = 0;
    try {
      await checkpointNow(h, admin);
      await waitFor('a refused submission', () => witness.answers.includes(422));
      await waitFor('the refusal logged', () => h.logs.some((line) => line.includes('HTTP 422')));
      const health = await h.request('GET', '/healthz');
      assert.deepEqual(health.json, { status: 'degraded', store: 'ok', witnesses: 'errors' });
      const logged = h.logs.find((line) => line.includes('HTTP 422')) ?? '';
      assert.equal((JSON.parse(logged) as { level: number }).level, 50, 'logged as an error');
    } finally {
      witness.forceStatus = undefined;
    }
  });
});

describe('audit log transparency: unreachable witness', () => {
  let h: Harness | undefined;
  after(() => h?.close());

  it('with requireCosignatureWithinSeconds, unwraps get 503 ERR_NOT_WITNESSED and no key material', async () => {
    // A loopback port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const { generateSignerKey, KEY_TYPE_COSIGNATURE_V1 } = await import('../../src/transparency/index.js');
    const vkey = generateSignerKey('witness.test/gone', KEY_TYPE_COSIGNATURE_V1).verifierKey;
    const s = await startHarness({
      audit: {
        log: {
          checkpointIntervalSeconds: 1,
          witnesses: [{ url: `http://127.0.0.1:${port}`, vkey }],
          requireCosignatureWithinSeconds: 1,
        },
      },
    });
    h = s;
    const { alice } = await setUp(s, 'gone');
    const wrapped = await wrapFor(s, 'gone');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const refused = await s.request('POST', '/keys/gone/unwrap', {
      token: alice,
      body: { stanza: wrapped.stanza },
    });
    assertError(refused, 'ERR_NOT_WITNESSED', 503);
    assert.equal(refused.json?.share, undefined);
    assert.ok(!refused.text.includes('witness.test'), 'no internal detail');
    const metrics = (await s.request('GET', '/metrics')).text;
    assert.match(metrics, /outcome="unreachable"\} [1-9]/);
    assert.match(metrics, /dke_audit_quorum_cosignature_age_seconds -1/);
  });
});

describe('audit log transparency: a witness that never answers', () => {
  it('does not hold up shutdown: submissions under way are aborted', { timeout: 30_000 }, async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const hanging = createHttpServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const { port } = hanging.address() as { port: number };
    const { generateSignerKey, KEY_TYPE_COSIGNATURE_V1 } = await import('../../src/transparency/index.js');
    const vkey = generateSignerKey('witness.test/hangs', KEY_TYPE_COSIGNATURE_V1).verifierKey;
    const s = await startHarness({
      audit: {
        log: { checkpointIntervalSeconds: 1, witnesses: [{ url: `http://127.0.0.1:${port}`, vkey }] },
      },
    });
    try {
      const admin = await s.adminToken();
      await checkpointNow(s, admin);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the submission is under way
    } finally {
      const started = Date.now();
      await s.close();
      assert.ok(Date.now() - started < 5_000, `shutdown took ${Date.now() - started} ms`);
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});
