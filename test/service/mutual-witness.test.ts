/**
 * Two key services on loopback, each the other's witness (issue 10): receipts verify against each log's
 * vkey; each log's checkpoints get the other's cosignature; after the operator of A rewrites A's audit log
 * in the database (a record changed, every chain hash and the tree recomputed, A's own checkpoints and
 * cosignatures deleted, A restarted), B refuses A's next checkpoint (its consistency proof from the size B
 * cosigned cannot be made), and `dke audit verify` against the last checkpoint B cosigned exits 10; a
 * forked checkpoint signed with A's own key is refused by B too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { EXIT } from '../../src/errors/index.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { loadMasterKey, serviceNoteKey, type ServiceNoteKey } from '../../src/keystore/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import {
  cosignatureVerifier,
  formatCheckpointBody,
  openCheckpoint,
  noteVerifier,
  signNote,
  verifyCosignatures,
  verifyReceipt,
} from '../../src/transparency/index.js';
import { runCli } from '../support/format-helpers.js';
import { rewriteAuditLog } from '../support/rewrite-log.js';
import { startHarness, type Harness } from './harness.js';
import { freePort } from '../support/free-port.js';

interface Holder {
  readonly name: 'a' | 'b';
  readonly dir: string;
  readonly database: string;
  readonly masterKeyFile: string;
  readonly port: number;
  readonly origin: string;
  log: ServiceNoteKey;
  witness: ServiceNoteKey;
  harness?: Harness;
}

/** A store with its master key and both note keys created, as a first `dke serve` would leave it. */
async function prepare(name: 'a' | 'b'): Promise<Holder> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `dke-mutual-${name}-`));
  const database = path.join(dir, 'dke.db');
  const masterKeyFile = path.join(dir, 'master.key');
  const { masterKey } = loadMasterKey({ file: masterKeyFile, createIfMissing: true, env: {} });
  const origin = `${name}.example.test/opendke/audit`;
  const store = openSqliteStore(database);
  try {
    const log = await serviceNoteKey(store, masterKey, 'audit-log', origin);
    const witness = await serviceNoteKey(store, masterKey, 'witness', `${name}.example.test/witness`);
    return { name, dir, database, masterKeyFile, port: await freePort(), origin, log, witness };
  } finally {
    await store.close();
  }
}

function auditConfig(self: Holder, other: Holder): Record<string, unknown> {
  return {
    log: {
      origin: self.origin,
      checkpointIntervalSeconds: 1,
      witnesses: [{ url: `http://127.0.0.1:${other.port}/witness`, vkey: other.witness.verifierKey }],
    },
    witness: {
      name: `${self.name}.example.test/witness`,
      logs: [{ origin: other.origin, vkey: other.log.verifierKey }],
    },
  };
}

function harnessOf(holder: Holder): Harness {
  assert.ok(holder.harness);
  return holder.harness;
}

/** One native unwrap on `holder`'s key `docs`; returns the answer's JSON and request id. */
async function unwrap(
  holder: Holder,
): Promise<{ receipt: string; requestId: string; objectId: string; keyId: string }> {
  const h = harnessOf(holder);
  const published = await h.request('GET', '/keys/docs');
  const objectId = randomBytes(16);
  const keyId = published.json?.keyId as string;
  const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
    objectId,
    keyId,
  });
  const answer = await h.request('POST', '/keys/docs/unwrap', {
    token: await h.token({ sub: 'alice', upn: 'alice@example.test' }),
    body: { stanza },
  });
  assert.equal(answer.status, 200, answer.text);
  return {
    receipt: answer.json?.receipt as string,
    requestId: answer.headers.get('x-request-id') as string,
    objectId: objectId.toString('base64url'),
    keyId,
  };
}

/** Polls `GET /audit/checkpoint` until it carries a cosignature of `witness` covering at least `size`. */
async function cosignedCheckpoint(holder: Holder, witness: Holder, size: number): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await harnessOf(holder).request('GET', '/audit/checkpoint');
    if (answer.status === 200) {
      const { checkpoint } = openCheckpoint(answer.text, noteVerifier(holder.log.verifierKey));
      if (checkpoint.size >= BigInt(size)) {
        try {
          verifyCosignatures(answer.text, [cosignatureVerifier(witness.witness.verifierKey)], { quorum: 1 });
          return answer.text;
        } catch {
          // not cosigned yet
        }
      }
    }
    if (Date.now() > deadline)
      throw new Error(`${holder.name}'s checkpoint was not cosigned by ${witness.name}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('two key services witnessing each other', () => {
  let a: Holder;
  let b: Holder;

  before(async () => {
    a = await prepare('a');
    b = await prepare('b');
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      self.harness = await startHarness({
        server: { port: self.port },
        store: { database: self.database, masterKeyFile: self.masterKeyFile },
        audit: auditConfig(self, other),
      });
      const service = await self.harness.openStore();
      try {
        await service.keys.create('docs', { protocol: 'native', spec: 'P-256' });
        await service.keys.setPolicy('docs', {
          users: ['alice@example.test'],
          groups: [],
          roles: [],
          tenants: [],
        });
      } finally {
        await service.close();
      }
    }
  });
  after(async () => {
    for (const holder of [a, b]) {
      await holder?.harness?.close();
      if (holder !== undefined) rmSync(holder.dir, { recursive: true, force: true });
    }
  });

  it('receipts of each service verify against its own log key, not the other one', async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const { receipt, requestId, objectId, keyId } = await unwrap(self);
      const { record } = verifyReceipt(receipt, {
        logVerifierKey: self.log.verifierKey,
        expect: { action: 'native.unwrap', result: 'allowed', objectId, keyId, requestId },
      });
      assert.equal(record.userName, 'alice@example.test');
      assert.throws(() => verifyReceipt(receipt, { logVerifierKey: other.log.verifierKey }));
    }
  });

  it('each log is cosigned by the other service', async () => {
    await unwrap(a);
    await unwrap(b);
    await cosignedCheckpoint(a, b, 1);
    await cosignedCheckpoint(b, a, 1);
  });

  it("A's incident report is headed by its verified root and the checkpoint B cosigned", async () => {
    await cosignedCheckpoint(a, b, 1);
    const result = await runCli(['audit', 'report', '--db', a.database, '--format', 'json'], { cwd: a.dir });
    assert.equal(result.code, 0, result.stderr.toString());
    const { integrity } = JSON.parse(result.stdout.toString('utf8')) as {
      integrity: {
        verified: boolean;
        checkpoint?: { origin: string; size: number; signedBy: string[] };
        cosignatures?: { witness: string }[];
      };
    };
    assert.equal(integrity.verified, true);
    assert.equal(integrity.checkpoint?.origin, a.origin);
    assert.deepEqual(integrity.checkpoint?.signedBy, [a.origin]);
    assert.ok(integrity.cosignatures?.some((c) => c.witness === 'b.example.test/witness'));
  });

  it('a rewritten log is refused by the witness and caught by dke audit verify against the cosigned checkpoint', async () => {
    for (let i = 0; i < 3; i++) await unwrap(a);
    const opened = await harnessOf(a).openStore();
    const size = await opened.audit.treeSize();
    await opened.close();
    const cosigned = await cosignedCheckpoint(a, b, size);
    const { checkpoint } = openCheckpoint(cosigned, noteVerifier(a.log.verifierKey));
    const cosignedSize = Number(checkpoint.size);
    writeFileSync(path.join(a.dir, 'cosigned.note'), cosigned);
    const verifyArgs = [
      'audit',
      'verify',
      '--db',
      a.database,
      '--checkpoint',
      path.join(a.dir, 'cosigned.note'),
      '--log-vkey',
      a.log.verifierKey,
      '--witness-vkey',
      b.witness.verifierKey,
      '--quorum',
      '1',
    ];
    const honest = await runCli(verifyArgs, { cwd: a.dir });
    assert.equal(honest.code, 0, honest.stderr.toString());

    // The operator of A rewrites history: record 2 names someone else, every later hash is recomputed,
    // the tree is rebuilt from the rewritten records, and A's own checkpoints and cosignatures are deleted.
    await harnessOf(a).server.close();
    const store = openSqliteStore(a.database);
    const last = (await store.auditTail())?.seq ?? 0;
    assert.ok(last >= cosignedSize);
    store.unsafeDatabase().exec('DELETE FROM audit_cosignatures; DELETE FROM audit_checkpoints;');
    await rewriteAuditLog(store, 2);
    await store.close();
    await harnessOf(a).restart(); // a write open rebuilds the tree over the rewritten records
    // A pooled keep-alive connection to the stopped server may still be handed out once.
    await harnessOf(a)
      .request('GET', '/healthz')
      .catch(() => undefined);

    // A keeps serving and submitting; B refuses every checkpoint of the rewritten history.
    await unwrap(a);
    const deadline = Date.now() + 20_000;
    let refusals = 0;
    while (refusals === 0) {
      const service = await harnessOf(b).openStore();
      try {
        refusals = (await service.audit.query({ limit: 1000 })).filter(
          (r) => r.action === 'witness.add-checkpoint' && r.result === 'denied' && r.subject === a.origin,
        ).length;
      } finally {
        await service.close();
      }
      if (refusals > 0) break;
      if (Date.now() > deadline) throw new Error('B never refused the rewritten log');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const metrics = await harnessOf(a).request('GET', '/metrics');
    assert.match(
      metrics.text,
      /dke_audit_witness_submissions_total\{[^}]*outcome="(refused|conflict)"[^}]*\} [1-9]/,
    );

    // The rewritten chain verifies on its own, but not against the checkpoint B cosigned.
    const alone = await runCli(['audit', 'verify', '--db', a.database], { cwd: a.dir });
    assert.equal(alone.code, 0, alone.stderr.toString());
    const caught = await runCli(verifyArgs, { cwd: a.dir });
    assert.equal(caught.code, EXIT.AUDIT);
    assert.match(caught.stderr.toString(), /inconsistent with checkpoint a\.example\.test\/opendke\/audit/);
  });

  it("a forked checkpoint signed with A's own key is refused by B", async () => {
    const state = await harnessOf(b).openStore();
    let known: { size: bigint } | undefined;
    try {
      known = await state.store.getWitnessedLog(a.origin);
    } finally {
      await state.close();
    }
    assert.ok(known !== undefined && known.size > 0n);
    const forked = signNote(
      formatCheckpointBody({ origin: a.origin, size: known.size, rootHash: randomBytes(32) }),
      [a.log.signer],
    );
    const answer = await fetch(`${harnessOf(b).server.url}/witness/add-checkpoint`, {
      method: 'POST',
      body: `old ${known.size}\n\n${forked}`,
    });
    assert.equal(answer.status, 409);
    assert.equal(await answer.text(), `${known.size}\n`);
  });
});
