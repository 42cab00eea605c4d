/** Checkpoints, cosignature/v1 and tlog-proof: round trips, every refusal, parser fuzz. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isDkeError } from '../../src/errors/index.js';
import {
  appendSignatures,
  cosign,
  cosignatureVerifier,
  formatCheckpointBody,
  formatTlogProof,
  generateSignerKey,
  hashChildren,
  hashLeaf,
  KEY_TYPE_COSIGNATURE_V1,
  noteVerifier,
  openCheckpoint,
  parseCheckpointBody,
  parseTlogProof,
  signNote,
  verifyCosignatures,
  verifyTlogProof,
} from '../../src/transparency/index.js';

const refused = (fn: () => unknown): void => {
  assert.throws(fn, (e: unknown) => isDkeError(e, 'ERR_PROOF_INVALID'));
};

const log = generateSignerKey('log.example/dke');
const logV = noteVerifier(log.verifierKey);
const w1 = generateSignerKey('w1.example', KEY_TYPE_COSIGNATURE_V1);
const w2 = generateSignerKey('w2.example', KEY_TYPE_COSIGNATURE_V1);
const witnesses = [w1, w2].map((w) => cosignatureVerifier(w.verifierKey));

// A three-entry tree: root = H(H(l0, l1), l2).
const leaves = ['a', 'b', 'c'].map((s) => hashLeaf(Buffer.from(s)));
const root = hashChildren(hashChildren(leaves[0]!, leaves[1]!), leaves[2]!);
const body = formatCheckpointBody({ origin: 'log.example/dke', size: 3, rootHash: root });
const note = signNote(body, [log.signerKey]);

describe('checkpoint', () => {
  test('format → parse round trip and openCheckpoint', () => {
    assert.equal(body, `log.example/dke\n3\n${root.toString('base64')}\n`);
    const parsed = parseCheckpointBody(body);
    assert.equal(parsed.size, 3n);
    assert.deepEqual(parsed.rootHash, root);
    const ext = formatCheckpointBody({
      origin: 'o',
      size: 2n ** 63n - 1n,
      rootHash: root,
      extensions: ['x y'],
    });
    assert.deepEqual(parseCheckpointBody(ext).extensions, ['x y']);
    assert.equal(openCheckpoint(note, logV).checkpoint.size, 3n);
    refused(() => openCheckpoint(note, logV, { origin: 'other.example' }));
  });

  test('strict body rules', () => {
    const r = root.toString('base64');
    for (const bad of [
      `o\n03\n${r}\n`,
      `o\n-1\n${r}\n`,
      `o\n9223372036854775808\n${r}\n`,
      `o\n1\n${r}`,
      `o\n1\n${r}\n\n`,
      `\n1\n${r}\n`,
      `o\n1\n${r.slice(0, -1)}\n`,
      `o\n1\n${Buffer.alloc(31).toString('base64')}\n`,
      `o\n1\n`,
      `o\n1 \n${r}\n`,
    ]) {
      refused(() => parseCheckpointBody(bad));
    }
    refused(() => formatCheckpointBody({ origin: 'a\nb', size: 1, rootHash: root }));
    refused(() => formatCheckpointBody({ origin: 'o', size: -1, rootHash: root }));
    refused(() => formatCheckpointBody({ origin: 'o', size: 1.5, rootHash: root }));
  });
});

describe('cosignature/v1', () => {
  test('cosign → verify, with timestamps, quorum and age', () => {
    const t = 1_700_000_000;
    const cosigned = appendSignatures(note, [
      cosign(body, w1.signerKey, t),
      cosign(body, w2.signerKey, t - 1000),
    ]);
    const result = verifyCosignatures(cosigned, witnesses, { quorum: 2, now: t });
    assert.deepEqual(
      result.cosigners.map((c) => c.timestamp),
      [BigInt(t), BigInt(t - 1000)],
    );
    // The log signature is still valid next to the cosignatures.
    assert.equal(openCheckpoint(cosigned, logV).checkpoint.size, 3n);
    refused(() => verifyCosignatures(cosigned, witnesses, { quorum: 2, now: t, maxAgeSeconds: 500 }));
    assert.equal(
      verifyCosignatures(cosigned, witnesses, { quorum: 1, now: t, maxAgeSeconds: 500 }).cosigners.length,
      1,
    );
    refused(() => verifyCosignatures(cosigned, witnesses, { quorum: 1, now: t - 2000 })); // future-dated
    refused(() => verifyCosignatures(note, witnesses, { quorum: 1, now: t }));
    refused(() => verifyCosignatures(cosigned, witnesses, { quorum: 3, now: t }));
    refused(() => verifyCosignatures(cosigned, [witnesses[0]!, witnesses[0]!], { quorum: 1, now: t }));
    for (const now of [Number.NaN, Infinity, -1, 2 ** 64]) {
      refused(() => verifyCosignatures(cosigned, witnesses, { quorum: 1, now }));
    }
    refused(() => verifyCosignatures(cosigned, witnesses, { quorum: 1, now: t, maxAgeSeconds: -1 }));
  });

  // A cosignature made by github.com/transparency-dev/formats/note (captured in yaglo/signed_note,
  // test/support/vectors/typed_notes.tsv): an independent implementation agrees on key ID, message, layout.
  test('a transparency-dev cosignature/v1 reference note verifies', () => {
    const vkey = 'vec.example/cosigv10+c12688da+BLMSTPoQj0PojM8eKiPf9xUT8g6b0OuMyvYb5sSu9JH5';
    const ref = Buffer.from(
      'dmVjLmV4YW1wbGUvY29zaWd2MTAKNDIKQ3NVWWFwR0dQbzRka01nSUFVcW9tL1hhamo3aDJmQjJNUEEzajJqeHEyST0KCuKAlCB2ZWMuZXhhbXBsZS9jb3NpZ3YxMCB3U2FJMmdBQUFBQnFiTDVRM0hqYlRDSmVxTWczdG1wZFlHQWcwNWlqVGk3azBweXJlSlNVTG10djNnK3lYSCtHL0tvODdKRytRa0xGNmFmOStHVlZObEVJZ2Y2VDBidzB3UXlNRHc9PQo=',
      'base64',
    );
    const w = [cosignatureVerifier(vkey)];
    const ok = verifyCosignatures(ref, w, { quorum: 1, now: 2 ** 31 });
    assert.equal(ok.checkpoint.size, 42n);
    assert.equal(ok.cosigners[0]?.name, 'vec.example/cosigv10');
    const t = Number(ok.cosigners[0].timestamp);
    assert.ok(t > 1_600_000_000);
    refused(() =>
      verifyCosignatures(ref.toString('utf8').replace('\n42\n', '\n43\n'), w, { quorum: 1, now: t }),
    );
  });

  test('the signed message binds time and body; the layout is timestamp || signature', () => {
    const t = 1_700_000_000;
    const line = cosign(body, w1.signerKey, t);
    const bytes = Buffer.from(line.slice(line.lastIndexOf(' ') + 1, -1), 'base64');
    assert.equal(bytes.length, 4 + 8 + 64);
    assert.equal(bytes.readBigUInt64BE(4), BigInt(t));
    bytes.writeBigUInt64BE(BigInt(t - 1), 4);
    const retimed = line.slice(0, line.lastIndexOf(' ') + 1) + bytes.toString('base64') + '\n';
    refused(() => verifyCosignatures(appendSignatures(note, [retimed]), witnesses, { quorum: 1, now: t }));
    const otherBody = formatCheckpointBody({ origin: 'log.example/dke', size: 4, rootHash: root });
    const moved = appendSignatures(signNote(otherBody, [log.signerKey]), [line]);
    refused(() => verifyCosignatures(moved, witnesses, { quorum: 1, now: t }));
    refused(() => cosign('not a checkpoint\n', w1.signerKey, t));
    refused(() => cosign(body, log.signerKey, t));
    refused(() => cosign(body, w1.signerKey, -1));
  });
});

describe('tlog-proof', () => {
  const proofFor2 = [hashChildren(leaves[0]!, leaves[1]!)];
  const text = formatTlogProof({
    index: 2,
    proof: proofFor2,
    checkpointNote: note,
    extra: Buffer.from('ctx'),
  });

  test('format → parse → verify', () => {
    assert.ok(
      text.startsWith(`c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 2\n${proofFor2[0]!.toString('base64')}\n\n`),
    );
    const parsed = parseTlogProof(text);
    assert.equal(parsed.index, 2n);
    assert.equal(parsed.checkpointNote, note);
    const ok = verifyTlogProof(text, { entry: Buffer.from('c') }, logV);
    assert.equal(ok.checkpoint.size, 3n);
    assert.deepEqual(ok.extra, Buffer.from('ctx'));
    assert.equal(verifyTlogProof(text, { leafHash: leaves[2]! }, logV).index, 2n);
    const plain = formatTlogProof({ index: 2, proof: proofFor2, checkpointNote: note });
    assert.ok(plain.startsWith('c2sp.org/tlog-proof@v1\nindex 2\n'));
  });

  test('wrong entry, index, proof, key or witness policy is refused', () => {
    refused(() => verifyTlogProof(text, { entry: Buffer.from('d') }, logV));
    refused(() => verifyTlogProof(text.replace('index 2', 'index 1'), { entry: Buffer.from('c') }, logV));
    refused(() =>
      verifyTlogProof(
        text,
        { entry: Buffer.from('c') },
        noteVerifier(generateSignerKey('log.example/dke').verifierKey),
      ),
    );
    refused(() => verifyTlogProof(text, { entry: Buffer.from('c') }, logV, { witnesses, quorum: 1 }));
    const t = Math.floor(Date.now() / 1000);
    const cosigned = appendSignatures(note, [cosign(body, w1.signerKey, t)]);
    const witnessed = formatTlogProof({ index: 2, proof: proofFor2, checkpointNote: cosigned });
    const ok = verifyTlogProof(witnessed, { entry: Buffer.from('c') }, logV, { witnesses, quorum: 1 });
    assert.equal(ok.cosigners[0]?.name, 'w1.example');
    for (const bad of [
      text.replace('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2'),
      text.replace('index 2', 'index 02'),
      text.replace('extra Y3R4\n', 'extra \n'),
      text.replace('\n\n', '\n'),
      text.replace('index 2\n', 'index 2\n\n'),
    ]) {
      refused(() => parseTlogProof(bad));
    }
  });

  test('fuzz: parsers throw nothing but ERR_PROOF_INVALID', () => {
    const cosignedNote = appendSignatures(note, [cosign(body, w1.signerKey, Math.floor(Date.now() / 1000))]);
    const mutate = (seed: string) =>
      fc
        .tuple(fc.nat(seed.length), fc.nat(seed.length), fc.string({ maxLength: 8 }))
        .map(([i, j, s]) => seed.slice(0, Math.min(i, j)) + s + seed.slice(Math.max(i, j)));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          mutate(cosignedNote),
          fc.uint8Array({ maxLength: 300 }),
          fc
            .tuple(fc.nat(text.length), fc.nat(text.length), fc.string({ maxLength: 8 }))
            .map(([i, j, s]) => text.slice(0, Math.min(i, j)) + s + text.slice(Math.max(i, j))),
        ),
        (input) => {
          for (const run of [
            () => verifyTlogProof(input, { entry: Buffer.from('c') }, logV, { witnesses, quorum: 1 }),
            () => parseCheckpointBody(input as string),
            () => parseTlogProof(input),
            () => verifyCosignatures(input, witnesses, { quorum: 1 }),
            () => openCheckpoint(input, logV),
          ]) {
            try {
              run();
            } catch (e) {
              assert.ok(isDkeError(e, 'ERR_PROOF_INVALID'), String(e));
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
