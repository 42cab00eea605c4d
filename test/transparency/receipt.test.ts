/**
 * verifyReceipt on receipts built from a real SQLite audit log (records appended by StoreAuditLog, proofs
 * from the stored tree, checkpoints signed by a local log key): valid ones verify, and every tampered part
 * (record, index, proof, checkpoint, key, witness policy, expectation) is refused with ERR_PROOF_INVALID.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canonicalAuditText } from '../../src/audit/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { MasterKey, openKeyService, type KeyService } from '../../src/keystore/index.js';
import type { AuditRow } from '../../src/store/index.js';
import {
  cosignatureVerifier,
  formatCheckpointBody,
  formatTlogProof,
  hashLeaf,
  generateSignerKey,
  noteVerifier,
  parseTlogProof,
  signNote,
  verifyReceipt,
} from '../../src/transparency/index.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';
import { buildReceipt, checkpointNote, TEST_ORIGIN, testLogKeys } from '../support/receipts.js';

const refused = (fn: () => unknown, message?: RegExp): void => {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isDkeError(e, 'ERR_PROOF_INVALID'), `expected ERR_PROOF_INVALID, got ${String(e)}`);
    if (message !== undefined) assert.match(e.message, message);
    return true;
  });
};

const OBJECT = 'q83vEjRWeJCrze8SNFZ4kA';
const KID = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

describe('verifyReceipt', () => {
  let dir: string;
  let service: KeyService;
  const keys = testLogKeys(2);
  const witnesses = keys.witnesses.map((w) => cosignatureVerifier(w.verifierKey));
  const vkey = keys.log.verifierKey;

  before(async () => {
    dir = makeTempDir('dke-receipt-');
    service = await openKeyService({
      dbPath: path.join(dir, 'dke.db'),
      masterKey: MasterKey.fromBytes(Buffer.alloc(32, 3)),
    });
    for (let k = 1; k <= 12; k++) {
      await service.audit.append({
        action: k % 3 === 0 ? 'admin.policy.set' : 'native.unwrap',
        result: k === 5 ? 'denied' : 'allowed',
        ...(k === 5 ? { reason: 'ERR_FORBIDDEN' } : {}),
        issuer: 'https://login.example.test',
        subject: `user-${k}`,
        userName: `user${k}@example.test`,
        keyName: 'finance',
        keyVersion: 1,
        keyId: KID,
        objectId: k === 7 ? 'AQEBAQEBAQEBAQEBAQEBAQ' : OBJECT,
        clientAddress: '192.0.2.1',
        requestId: `req-${k}`,
      });
    }
  });
  after(async () => {
    await service.close();
    removeDir(dir);
  });

  const receipt = (seq: number, options: Parameters<typeof buildReceipt>[4] = {}): Promise<string> =>
    buildReceipt(service.store, service.audit, keys, seq, options);

  test('every record of the log verifies against checkpoints of every size that covers it', async () => {
    for (let size = 1; size <= 12; size++) {
      for (let seq = 1; seq <= size; seq++) {
        const verified = verifyReceipt(await receipt(seq, { size }), { logVerifierKey: vkey });
        assert.equal(verified.index, seq - 1);
        assert.equal(verified.record.seq, seq);
        assert.equal(verified.checkpoint.size, BigInt(size));
        assert.equal(verified.checkpoint.origin, TEST_ORIGIN);
        assert.deepEqual(verified.cosigners, []);
      }
    }
  });

  test('returns the record fields exactly as hashed, and checks expectations', async () => {
    const text = await receipt(4);
    const { record } = verifyReceipt(text, {
      logVerifierKey: noteVerifier(vkey),
      expect: {
        action: 'native.unwrap',
        result: 'allowed',
        keyId: KID,
        objectId: OBJECT,
        requestId: 'req-4',
      },
    });
    const row = (await service.store.getAuditRow(4)) as AuditRow;
    assert.deepEqual({ ...record, hash: row.hash }, { ...row });
    for (const [field, wrong] of [
      ['action', 'ms-dke.decrypt'],
      ['result', 'denied'],
      ['keyId', 'other'],
      ['objectId', 'AQEBAQEBAQEBAQEBAQEBAQ'],
      ['requestId', 'req-5'],
    ] as const) {
      refused(
        () => verifyReceipt(text, { logVerifierKey: vkey, expect: { [field]: wrong } }),
        new RegExp(`another ${field} than expected`),
      );
    }
    // A denied record is proven just as well; a client that wants "allowed" refuses it.
    const receipt5 = await receipt(5);
    refused(() => verifyReceipt(receipt5, { logVerifierKey: vkey, expect: { result: 'allowed' } }));
    const receipt7 = await receipt(7);
    refused(() => verifyReceipt(receipt7, { logVerifierKey: vkey, expect: { objectId: OBJECT } }));
  });

  test('a changed record (extra) is refused: its leaf is no longer in the tree', async () => {
    const parsed = parseTlogProof(await receipt(4));
    const original = canonicalAuditText((await service.store.getAuditRow(4)) as AuditRow);
    for (const changed of [
      original.replace('user-4', 'user-X'),
      original.replace('"allowed"', '"denied"'),
      canonicalAuditText((await service.store.getAuditRow(5)) as AuditRow),
    ]) {
      const forged = formatTlogProof({ ...parsed, extra: Buffer.from(changed) });
      refused(() => verifyReceipt(forged, { logVerifierKey: vkey }), /inclusion proof/);
    }
    const withoutExtra = { index: parsed.index, proof: parsed.proof, checkpointNote: parsed.checkpointNote };
    refused(() => verifyReceipt(formatTlogProof(withoutExtra), { logVerifierKey: vkey }), /no audit record/);
  });

  test('a record proven at another index is refused (seq must be index + 1)', async () => {
    // A "log" whose entry 0 is record 4's text: a real inclusion proof, but not of the seq it claims.
    const text = canonicalAuditText((await service.store.getAuditRow(4)) as AuditRow);
    const fake = testLogKeys(0);
    const body = formatCheckpointBody({
      origin: TEST_ORIGIN,
      size: 1,
      rootHash: hashLeaf(Buffer.from(text)),
    });
    const forged = formatTlogProof({
      index: 0,
      proof: [],
      checkpointNote: signNote(body, [fake.log.signerKey]),
      extra: Buffer.from(text),
    });
    refused(() => verifyReceipt(forged, { logVerifierKey: fake.log.verifierKey }), /seq - 1/);
  });

  test('a wrong index, a damaged proof or a proof for another size is refused', async () => {
    const parsed = parseTlogProof(await receipt(6));
    refused(() => verifyReceipt(formatTlogProof({ ...parsed, index: 6n }), { logVerifierKey: vkey }));
    refused(() => verifyReceipt(formatTlogProof({ ...parsed, index: 4n }), { logVerifierKey: vkey }));
    const flipped = parsed.proof.map((h, k) =>
      k === 1 ? Buffer.from(h.map((b, i) => (i === 0 ? b ^ 1 : b))) : h,
    );
    refused(() => verifyReceipt(formatTlogProof({ ...parsed, proof: flipped }), { logVerifierKey: vkey }));
    refused(() =>
      verifyReceipt(formatTlogProof({ ...parsed, proof: parsed.proof.slice(1) }), { logVerifierKey: vkey }),
    );
    refused(() =>
      verifyReceipt(formatTlogProof({ ...parsed, proof: [...parsed.proof, parsed.proof[0] as Buffer] }), {
        logVerifierKey: vkey,
      }),
    );
    // The proof of size 12 under the checkpoint of size 11.
    const older = await checkpointNote(service.audit, keys, { size: 11 });
    refused(() =>
      verifyReceipt(formatTlogProof({ ...parsed, checkpointNote: older }), { logVerifierKey: vkey }),
    );
  });

  test('a checkpoint not signed by the pinned log key, or for another origin, is refused', async () => {
    const text = await receipt(2);
    const other = generateSignerKey(TEST_ORIGIN);
    refused(
      () => verifyReceipt(text, { logVerifierKey: other.verifierKey }),
      /no signature from a known key/,
    );
    const renamed = generateSignerKey('other.example.test/opendke/audit');
    refused(() => verifyReceipt(text, { logVerifierKey: renamed.verifierKey }));
    // Signed by the right key but for another origin.
    const foreign = await checkpointNote(service.audit, keys, { origin: 'other.example.test/opendke/audit' });
    const parsed = parseTlogProof(text);
    refused(
      () => verifyReceipt(formatTlogProof({ ...parsed, checkpointNote: foreign }), { logVerifierKey: vkey }),
      /origin/,
    );
    // A checkpoint body edited after signing.
    const note = parsed.checkpointNote.replace(/\n12\n/, '\n11\n');
    assert.notEqual(note, parsed.checkpointNote);
    refused(() =>
      verifyReceipt(formatTlogProof({ ...parsed, checkpointNote: note }), { logVerifierKey: vkey }),
    );
    // Witness vkeys are not log keys.
    refused(() => verifyReceipt(text, { logVerifierKey: keys.witnesses[0]?.verifierKey as string }));
    refused(() => verifyReceipt(text, { logVerifierKey: 'not a key' }));
  });

  test('witness policy: quorum of current cosignatures', async () => {
    const [w1, w2] = keys.witnesses.map((w) => w.signerKey) as [string, string];
    const both = await receipt(3, { cosigners: [w1, w2] });
    assert.equal(verifyReceipt(both, { logVerifierKey: vkey, witnesses }).cosigners.length, 2);
    const one = await receipt(3, { cosigners: [w2] });
    assert.equal(
      verifyReceipt(one, { logVerifierKey: vkey, witnesses, quorum: 1 }).cosigners[0]?.name,
      'witness-2.example.test',
    );
    refused(() => verifyReceipt(one, { logVerifierKey: vkey, witnesses, quorum: 2 }), /too few/);
    const receipt3 = await receipt(3);
    refused(() => verifyReceipt(receipt3, { logVerifierKey: vkey, witnesses, quorum: 1 }), /too few/);
    refused(() => verifyReceipt(one, { logVerifierKey: vkey, quorum: 1 }), /needs witness keys/);
    refused(() => verifyReceipt(one, { logVerifierKey: vkey, witnesses, quorum: 3 }));
    const old = await receipt(3, { cosigners: [w1, w2], time: 1_000_000 });
    refused(() => verifyReceipt(old, { logVerifierKey: vkey, witnesses, maxAgeSeconds: 3600 }), /too few/);
    assert.equal(
      verifyReceipt(old, { logVerifierKey: vkey, witnesses, maxAgeSeconds: 3600, now: 1_000_100 }).cosigners
        .length,
      2,
    );
    // A cosignature line altered after signing refuses the whole note.
    const parsed = parseTlogProof(both);
    const lines = parsed.checkpointNote.split('\n');
    const last = lines.length - 2;
    const sig = Buffer.from((lines[last] as string).split(' ')[2] as string, 'base64');
    sig.writeUInt8(sig.readUInt8(sig.length - 1) ^ 1, sig.length - 1);
    lines[last] = `${(lines[last] as string).split(' ').slice(0, 2).join(' ')} ${sig.toString('base64')}`;
    const damaged = formatTlogProof({ ...parsed, checkpointNote: lines.join('\n') });
    refused(() => verifyReceipt(damaged, { logVerifierKey: vkey, witnesses, quorum: 1 }), /does not verify/);
  });

  test('a record with every text field at its longest (1024 characters, escaped or multi-byte) has a receipt', async () => {
    const long = (unit: string): string => unit.repeat(1024);
    const record = await service.audit.append({
      action: long('\u0008'),
      result: 'denied',
      reason: long('\u0001'), // 6 bytes each in the canonical text (\u0001)
      issuer: long('é'),
      subject: long('\u0002'),
      userName: long('€'),
      keyName: long('\u0003'),
      keyVersion: 1,
      keyId: long('\u0004'),
      objectId: long('\u0005'),
      clientAddress: long('\u0006'),
      requestId: long('\u0007'),
    });
    const text = await receipt(record.seq);
    assert.ok((parseTlogProof(text).extra?.length ?? 0) > 50_000, 'a record of over 50 KB');
    const verified = verifyReceipt(text, { logVerifierKey: vkey, expect: { result: 'denied' } });
    assert.equal(verified.record.requestId, long('\u0007'));
  });

  test('garbage is refused, never thrown as anything else', async () => {
    for (const bad of [
      '',
      'c2sp.org/tlog-proof@v1\n',
      (await receipt(1)).slice(0, -3),
      '\u0000',
      'x'.repeat(300_000),
    ]) {
      refused(() => verifyReceipt(bad, { logVerifierKey: vkey }));
    }
    refused(() => verifyReceipt(Buffer.from([0xff, 0xfe]), { logVerifierKey: vkey }));
  });
});
