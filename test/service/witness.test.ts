/**
 * The witness role (C2SP tlog-witness add-checkpoint) over real HTTP: a real server with `audit.witness`,
 * checkpoints signed by a test log key, real RFC 6962 trees and consistency proofs, the real store.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { answerOf, startHarness, type Harness, type HttpAnswer } from './harness.js';
import { auditRecords } from './audit-reader.js';
import {
  cosignatureVerifier,
  emptyRoot,
  formatCheckpointBody,
  generateSignerKey,
  hashChildren,
  hashLeaf,
  signNote,
  verifyCosignatures,
} from '../../src/transparency/index.js';
import { storedVerifierKey } from '../../src/keystore/note-signing-keys.js';
import { loadConfig } from '../../src/config/index.js';
import { EXIT, isDkeError } from '../../src/errors/index.js';
import { spawnSync } from 'node:child_process';
import { cliPath } from '../support/paths.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const ORIGIN = 'log.example.test/opendke/audit';
const OTHER_ORIGIN = 'other.example.test/log';
const WITNESS_NAME = 'witness.example.test/witness';
const logKey = generateSignerKey(ORIGIN);
const impostorKey = generateSignerKey(ORIGIN);
const otherKey = generateSignerKey(OTHER_ORIGIN);

// ---- an RFC 6962 reference tree (recursive definitions of §2.1), independent of src/transparency's planner
const leaves = (tag: string, n: number): Buffer[] =>
  Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i}`));
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function root(entries: readonly Buffer[]): Buffer {
  if (entries.length === 0) return emptyRoot();
  if (entries.length === 1) return hashLeaf(entries[0] as Buffer);
  const k = split(entries.length);
  return hashChildren(root(entries.slice(0, k)), root(entries.slice(k)));
}
function subproof(m: number, entries: readonly Buffer[], complete: boolean): Buffer[] {
  const n = entries.length;
  if (m === n) return complete ? [] : [root(entries)];
  const k = split(n);
  if (m <= k) return [...subproof(m, entries.slice(0, k), complete), root(entries.slice(k))];
  return [...subproof(m - k, entries.slice(k), false), root(entries.slice(0, k))];
}
const consistency = (m: number, entries: readonly Buffer[]): Buffer[] => subproof(m, entries, true);

function checkpointNote(
  entries: readonly Buffer[],
  signer: string = logKey.signerKey,
  origin = ORIGIN,
): string {
  const body = formatCheckpointBody({ origin, size: entries.length, rootHash: root(entries) });
  return signNote(body, [signer]);
}

function requestBody(oldSize: number | string, proof: readonly Buffer[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${h.toString('base64')}\n`).join('')}\n${note}`;
}

async function submit(h: Harness, body: string | Uint8Array, contentType?: string): Promise<HttpAnswer> {
  return answerOf(
    await fetch(`${h.server.url}/witness/add-checkpoint`, {
      method: 'POST',
      body,
      ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
    }),
  );
}

async function witnessVkey(h: Harness): Promise<string> {
  const service = await h.openStore();
  try {
    const vkey = await storedVerifierKey(service.store, 'witness');
    assert.ok(vkey !== undefined, 'the witness key exists once the server started');
    return vkey;
  } finally {
    await service.close();
  }
}

async function storedSize(h: Harness, origin = ORIGIN): Promise<bigint | undefined> {
  const service = await h.openStore();
  try {
    return (await service.store.getWitnessedLog(origin))?.size;
  } finally {
    await service.close();
  }
}

void describe('witness: POST /witness/add-checkpoint', () => {
  let h: Harness;
  const history = leaves('entry', 40);
  before(async () => {
    h = await startHarness({
      audit: {
        witness: {
          name: WITNESS_NAME,
          logs: [
            { origin: ORIGIN, vkey: logKey.verifierKey },
            { origin: OTHER_ORIGIN, vkey: otherKey.verifierKey },
          ],
        },
      },
    });
  });
  after(() => h.close());

  void test('the first checkpoint (old 0) is cosigned; the cosignature verifies with the witness vkey', async () => {
    const note = checkpointNote(history.slice(0, 5));
    const answer = await submit(h, requestBody(0, [], note));
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(answer.text, /^— witness\.example\.test\/witness [A-Za-z0-9+/=]+\n$/);
    const vkey = await witnessVkey(h);
    assert.ok(vkey.startsWith(`${WITNESS_NAME}+`));
    const verified = verifyCosignatures(note + answer.text, [cosignatureVerifier(vkey)], { quorum: 1 });
    assert.equal(verified.checkpoint.size, 5n);
    assert.ok(Math.abs(Number(verified.cosigners[0]?.timestamp) - Date.now() / 1000) < 60);
    assert.equal(await storedSize(h), 5n, 'stored before the answer');
    const record = (await auditRecords(h)).find((r) => r.action === 'witness.add-checkpoint');
    assert.equal(record?.result, 'ok');
    assert.equal(record?.subject, ORIGIN);
    assert.equal(record?.objectId, `5 ${root(history.slice(0, 5)).toString('base64')}`);
  });

  void test('a later checkpoint with a valid consistency proof is cosigned; resubmitting it is idempotent', async () => {
    const note = checkpointNote(history.slice(0, 13));
    const answer = await submit(h, requestBody(5, consistency(5, history.slice(0, 13)), note));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(await storedSize(h), 13n);
    const again = await submit(h, requestBody(13, [], note));
    assert.equal(again.status, 200, again.text);
    verifyCosignatures(note + again.text, [cosignatureVerifier(await witnessVkey(h))], { quorum: 1 });
  });

  void test('a stale old size is 409 text/x.tlog.size with the known size', async () => {
    const note = checkpointNote(history.slice(0, 20));
    const answer = await submit(h, requestBody(5, consistency(5, history.slice(0, 20)), note));
    assert.equal(answer.status, 409);
    assert.equal(answer.headers.get('content-type'), 'text/x.tlog.size');
    assert.equal(answer.text, '13\n');
    const fromZero = await submit(h, requestBody(0, [], note));
    assert.equal(fromZero.status, 409, 'a client may learn the size with old 0');
    assert.equal(fromZero.text, '13\n');
    assert.equal(await storedSize(h), 13n);
  });

  void test('a bad consistency proof is 422 and recorded in the audit log', async () => {
    const entries = history.slice(0, 20);
    const proof = consistency(13, entries);
    proof[0] = Buffer.alloc(32, 7);
    const answer = await submit(h, requestBody(13, proof, checkpointNote(entries)));
    assert.equal(answer.status, 422, answer.text);
    assert.equal(answer.json?.error, 'ERR_PROOF_INVALID');
    const short = await submit(
      h,
      requestBody(13, consistency(13, entries).slice(1), checkpointNote(entries)),
    );
    assert.equal(short.status, 422);
    assert.equal(await storedSize(h), 13n, 'nothing stored');
    const record = (await auditRecords(h)).find(
      (r) => r.action === 'witness.add-checkpoint' && r.result === 'denied',
    );
    assert.equal(record?.reason, 'ERR_PROOF_INVALID');
    assert.equal(record?.subject, ORIGIN);
  });

  void test('a fork is refused: same size with another root (409), a rewritten history with its own proof (422)', async () => {
    const forked = [...history.slice(0, 12), Buffer.from('rewritten')];
    const sameSize = await submit(h, requestBody(13, [], checkpointNote(forked)));
    assert.equal(sameSize.status, 409);
    assert.equal(sameSize.text, '13\n');
    const forkRecord = (await auditRecords(h)).find((r) => r.reason === 'ERR_WITNESS_FORK');
    assert.equal(forkRecord?.subject, ORIGIN);
    // A rewritten log that grew: its proof is valid within its own tree, but not from the cosigned root.
    const rewritten = [...forked, ...leaves('more', 7)];
    const grown = await submit(h, requestBody(13, consistency(13, rewritten), checkpointNote(rewritten)));
    assert.equal(grown.status, 422);
    assert.equal(await storedSize(h), 13n);
  });

  void test('a checkpoint not signed by the configured log key is 403; an unknown origin is 404', async () => {
    const entries = history.slice(0, 20);
    const forged = await submit(
      h,
      requestBody(13, consistency(13, entries), checkpointNote(entries, impostorKey.signerKey)),
    );
    assert.equal(forged.status, 403);
    assert.equal(forged.json?.error, 'ERR_WITNESS_SIGNATURE_INVALID');
    const stranger = generateSignerKey('stranger.example.test/log');
    const unknown = await submit(
      h,
      requestBody(0, [], checkpointNote(entries, stranger.signerKey, 'stranger.example.test/log')),
    );
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json?.error, 'ERR_WITNESS_UNKNOWN_LOG');
    assert.equal(await storedSize(h), 13n);
  });

  void test('malformed bodies are 400; an old size above the checkpoint size is 400', async () => {
    const entries = history.slice(0, 20);
    const note = checkpointNote(entries);
    const proofText = consistency(13, entries)
      .map((x) => `${x.toString('base64')}\n`)
      .join('');
    const bad = [
      '',
      note,
      `old 13\n${proofText}${note}`, // no blank line: the note's lines read as proof lines
      `old 013\n${proofText}\n${note}`,
      `old -1\n\n${note}`,
      `old 13 \n${proofText}\n${note}`,
      `Old 13\n${proofText}\n${note}`,
      `old 13\r\n${proofText}\n${note}`,
      `old 13\nnot base64!\n\n${note}`,
      `old 13\n${Buffer.alloc(31).toString('base64')}\n\n${note}`,
      `old 13\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(64)}\n${note}`,
      `old 13\n${proofText}\n${note.replace('\n\n', '\n')}`,
      `old 13\n${proofText}\nnot a checkpoint\n\n— x abc\n`,
      `old 9223372036854775808\n\n${note}`,
      `old 21\n${proofText}\n${note}`,
    ];
    for (const body of bad) {
      const answer = await submit(h, body);
      assert.equal(answer.status, 400, `${JSON.stringify(body.slice(0, 40))}: ${answer.text}`);
      assert.equal(answer.json?.error, 'ERR_BAD_REQUEST');
    }
    const invalidUtf8 = await submit(
      h,
      Buffer.concat([Buffer.from('old 13\n\n'), Buffer.from([0xff, 0xfe])]),
    );
    assert.equal(invalidUtf8.status, 400);
    assert.equal(await storedSize(h), 13n);
  });

  void test('an oversized body is 413', async () => {
    const answer = await submit(h, `old 13\n${'A'.repeat(70 * 1024)}`);
    assert.equal(answer.status, 413);
  });

  void test('any request content type is read as the body (the spec names none)', async () => {
    const entries = history.slice(0, 14);
    const answer = await submit(
      h,
      requestBody(13, consistency(13, entries), checkpointNote(entries)),
      'application/json',
    );
    assert.equal(answer.status, 200, answer.text);
    assert.equal(await storedSize(h), 14n);
  });

  void test('concurrent submissions from the same old size: exactly one is cosigned, the others get 409', async () => {
    const sizes = [20, 21, 22, 23, 24, 25];
    const answers = await Promise.all(
      sizes.map((n) =>
        submit(h, requestBody(14, consistency(14, history.slice(0, n)), checkpointNote(history.slice(0, n)))),
      ),
    );
    const won = answers.filter((a) => a.status === 200);
    assert.equal(won.length, 1, answers.map((a) => `${a.status} ${a.text}`).join(' | '));
    const winner = sizes[answers.findIndex((a) => a.status === 200)] as number;
    for (const lost of answers.filter((a) => a.status !== 200)) {
      assert.equal(lost.status, 409);
      assert.equal(lost.text, `${winner}\n`);
    }
    assert.equal(await storedSize(h), BigInt(winner));
  });

  void test('while another process holds the store lock: 503 ERR_STORE_BUSY at once, nothing cosigned', async () => {
    const size = Number(await storedSize(h));
    const entries = history.slice(0, size + 1);
    const body = requestBody(size, consistency(size, entries), checkpointNote(entries));
    const holder = await h.openStore();
    try {
      holder.store.unsafeDatabase().exec('BEGIN IMMEDIATE');
      const started = Date.now();
      const answer = await submit(h, body);
      assert.equal(answer.status, 503, answer.text);
      assert.equal(answer.json?.error, 'ERR_STORE_BUSY');
      assert.ok(Date.now() - started < 2000, 'no blocking wait');
      holder.store.unsafeDatabase().exec('ROLLBACK');
    } finally {
      await holder.close();
    }
    assert.equal(await storedSize(h), BigInt(size));
    const retried = await submit(h, body);
    assert.equal(retried.status, 200, retried.text);
  });

  void test('the state survives a restart; the witness key stays the same', async () => {
    const vkey = await witnessVkey(h);
    const size = (await storedSize(h)) as bigint;
    await h.restart();
    assert.equal(await witnessVkey(h), vkey);
    const stale = await submit(h, requestBody(0, [], checkpointNote(history.slice(0, 30))));
    assert.equal(stale.status, 409);
    assert.equal(stale.text, `${size}\n`);
    const n = Number(size);
    const entries = history.slice(0, 30);
    const next = await submit(h, requestBody(n, consistency(n, entries), checkpointNote(entries)));
    assert.equal(next.status, 200, next.text);
    verifyCosignatures(checkpointNote(entries) + next.text, [cosignatureVerifier(vkey)], { quorum: 1 });
  });

  void test('`dke audit witness-key` prints the witness verifier key; a store without one exits 2', async () => {
    const printed = spawnSync(process.execPath, [cliPath, 'audit', 'witness-key', '--config', h.configFile], {
      encoding: 'utf8',
    });
    assert.equal(printed.status, 0, printed.stderr);
    assert.equal(printed.stdout, `${await witnessVkey(h)}\n`);
    const bare = await startHarness();
    try {
      const none = spawnSync(
        process.execPath,
        [cliPath, 'audit', 'witness-key', '--config', bare.configFile],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(none.status, EXIT.USAGE);
      assert.equal(none.stdout, '');
      assert.match(none.stderr, /no witness key yet/);
    } finally {
      await bare.close();
    }
  });

  void test('logs are independent: another origin starts from 0', async () => {
    const note = checkpointNote(leaves('other', 3), otherKey.signerKey, OTHER_ORIGIN);
    const withProof = await submit(h, requestBody(0, [Buffer.alloc(32, 1)], note));
    assert.equal(withProof.status, 422, 'the proof from size 0 must be empty');
    const notEmpty = signNote(
      formatCheckpointBody({ origin: OTHER_ORIGIN, size: 0, rootHash: Buffer.alloc(32, 9) }),
      [otherKey.signerKey],
    );
    assert.equal((await submit(h, requestBody(0, [], notEmpty))).status, 422, 'an empty tree has one root');
    assert.equal(await storedSize(h, OTHER_ORIGIN), undefined);
    const answer = await submit(h, requestBody(0, [], note));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(await storedSize(h, OTHER_ORIGIN), 3n);
  });
});

void describe('witness: configuration', () => {
  void test('without audit.witness there is no /witness route', async () => {
    const h = await startHarness();
    try {
      const answer = await submit(h, requestBody(0, [], checkpointNote(leaves('x', 1))));
      assert.equal(answer.status, 404);
      assert.equal(answer.json?.error, 'ERR_NOT_FOUND');
    } finally {
      await h.close();
    }
  });

  void test('a bad vkey, a vkey not named like its origin, a duplicate origin or a bad name is ERR_CONFIG_INVALID naming the field', async () => {
    const h = await startHarness();
    try {
      const cases: [unknown, RegExp][] = [
        [
          { name: WITNESS_NAME, logs: [{ origin: ORIGIN, vkey: 'nonsense' }] },
          /audit\.witness\.logs\[0\]\.vkey/,
        ],
        [
          {
            name: WITNESS_NAME,
            logs: [{ origin: ORIGIN, vkey: generateSignerKey(ORIGIN, 0x04).verifierKey }],
          },
          /audit\.witness\.logs\[0\]\.vkey/,
        ],
        [
          { name: WITNESS_NAME, logs: [{ origin: 'x.example/log', vkey: logKey.verifierKey }] },
          /logs\[0\]\.vkey is named/,
        ],
        [
          {
            name: WITNESS_NAME,
            logs: [
              { origin: ORIGIN, vkey: logKey.verifierKey },
              { origin: ORIGIN, vkey: logKey.verifierKey },
            ],
          },
          /logs\[1\]\.origin is listed twice/,
        ],
        [{ name: 'bad name+', logs: [] }, /audit\.witness\.name/],
        [
          { name: WITNESS_NAME, logs: [{ origin: ORIGIN, vkey: logKey.verifierKey, extra: 1 }] },
          /not a known field/,
        ],
        [{ name: WITNESS_NAME }, /is required/],
      ];
      for (const [witness, pattern] of cases) {
        const file = path.join(h.dir, 'witness.json');
        writeFileSync(file, JSON.stringify({ audit: { witness } }));
        assert.throws(
          () => loadConfig({ file, env: {} }),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID') && pattern.test(e.message),
          JSON.stringify(witness),
        );
      }
    } finally {
      await h.close();
    }
  });
});
