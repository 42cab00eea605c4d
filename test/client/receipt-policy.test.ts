/**
 * The client's receipt policy (src/holders/receipt-policy.ts, src/cli/receipt-args.ts) on receipts built
 * from a real store: the pinned key is chosen by the receipt's origin among several services' keys; missing
 * and invalid receipts give their own errors; flags win over DKE_LOG_VKEY; saved receipts are 0600 and
 * named <objectId>.<keyId>.tlog-proof, and a key id that is not base64url never becomes a file name.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isDkeError } from '../../src/errors/index.js';
import { acceptReceipt, type ReceiptPolicy } from '../../src/holders/receipt-policy.js';
import { MasterKey, openKeyService, type KeyService } from '../../src/keystore/index.js';
import { noteVerifier } from '../../src/transparency/index.js';
import { pinnedLogVerifiers, receiptPolicyFrom, saveReceipt } from '../../src/cli/receipt-args.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';
import { buildReceipt, testLogKeys } from '../support/receipts.js';

const KID = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
const OBJECT = 'q83vEjRWeJCrze8SNFZ4kA';
const SUBJECT = { locator: 'https://keys.example.test/keys/finance', keyId: KID, objectId: OBJECT };

describe('receipt policy', () => {
  let dir: string;
  let service: KeyService;
  const ours = testLogKeys(0);
  const otherService = testLogKeys(0, 'other.example.test/opendke/audit');
  const sameNameOtherKey = testLogKeys(0);
  let receipt = '';

  before(async () => {
    dir = makeTempDir('dke-receipt-policy-');
    service = await openKeyService({
      dbPath: path.join(dir, 'dke.db'),
      masterKey: MasterKey.fromBytes(Buffer.alloc(32, 5)),
    });
    await service.audit.append({ action: 'key.create', result: 'ok', keyName: 'finance' });
    await service.audit.append({
      action: 'native.unwrap',
      result: 'allowed',
      subject: 'alice',
      keyName: 'finance',
      keyVersion: 1,
      keyId: KID,
      objectId: OBJECT,
      requestId: 'req-2',
    });
    receipt = await buildReceipt(service.store, service.audit, ours, 2);
  });
  after(async () => {
    await service.close();
    removeDir(dir);
  });

  const policy = (vkeys: readonly string[], require = false): ReceiptPolicy => ({
    logVerifiers: vkeys.map(noteVerifier),
    require,
  });
  const rejects = async (run: Promise<unknown>, code: string, message: RegExp): Promise<void> => {
    await assert.rejects(run, (e: unknown) => {
      assert.ok(isDkeError(e), String(e));
      assert.equal(e.code, code);
      assert.match(e.message, message);
      return true;
    });
  };

  test('the key is chosen by origin among several pinned services; a same-named rotated key is tried too', async () => {
    for (const pinned of [
      [ours.log.verifierKey],
      [otherService.log.verifierKey, ours.log.verifierKey],
      [sameNameOtherKey.log.verifierKey, ours.log.verifierKey],
    ]) {
      const accepted = await acceptReceipt(policy(pinned), receipt, { ...SUBJECT, requestId: 'req-2' });
      assert.equal(accepted?.verified.record.seq, 2);
    }
    await rejects(
      acceptReceipt(policy([otherService.log.verifierKey]), receipt, SUBJECT),
      'ERR_RECEIPT_INVALID',
      /keys\.example\.test\/keys\/finance sent an audit receipt that does not verify: its checkpoint is not signed by a pinned log key/,
    );
    await rejects(
      acceptReceipt(policy([sameNameOtherKey.log.verifierKey]), receipt, SUBJECT),
      'ERR_RECEIPT_INVALID',
      /no signature from a known key/,
    );
  });

  test('expectations: the request id of the answer, the stanza key id, the file object id', async () => {
    const pinned = policy([ours.log.verifierKey]);
    await rejects(
      acceptReceipt(pinned, receipt, { ...SUBJECT, requestId: 'req-9' }),
      'ERR_RECEIPT_INVALID',
      /requestId/,
    );
    await rejects(
      acceptReceipt(pinned, receipt, { ...SUBJECT, objectId: 'AQEBAQEBAQEBAQEBAQEBAQ' }),
      'ERR_RECEIPT_INVALID',
      /objectId/,
    );
    await rejects(acceptReceipt(pinned, receipt, { ...SUBJECT, keyId: 'x' }), 'ERR_RECEIPT_INVALID', /keyId/);
    // Record 1 is a key.create: a valid receipt, but not of a release.
    const other = await buildReceipt(service.store, service.audit, ours, 1);
    await rejects(acceptReceipt(pinned, other, SUBJECT), 'ERR_RECEIPT_INVALID', /action/);
  });

  test('missing: refused only when required; nothing pinned: receipts are not looked at', async () => {
    assert.equal(await acceptReceipt(policy([ours.log.verifierKey]), undefined, SUBJECT), undefined);
    await rejects(
      acceptReceipt(policy([ours.log.verifierKey], true), undefined, SUBJECT),
      'ERR_RECEIPT_MISSING',
      /sent no audit receipt/,
    );
    await rejects(
      acceptReceipt(policy([ours.log.verifierKey]), null, SUBJECT),
      'ERR_RECEIPT_INVALID',
      /not text/,
    );
    assert.equal(await acceptReceipt(policy([]), 'garbage', SUBJECT), undefined);
  });

  test('the CLI policy: flags win over DKE_LOG_VKEY, several keys in the variable, usage errors', async () => {
    const env = { DKE_LOG_VKEY: ` ${otherService.log.verifierKey}\n${ours.log.verifierKey} ` };
    assert.deepEqual(
      pinnedLogVerifiers({}, env).map((v) => v.name),
      ['other.example.test/opendke/audit', 'keys.example.test/opendke/audit'],
    );
    assert.deepEqual(
      pinnedLogVerifiers({ logVkey: [ours.log.verifierKey] }, { DKE_LOG_VKEY: 'broken' }).map((v) => v.name),
      ['keys.example.test/opendke/audit'],
    );
    const usage = (e: unknown): boolean => isDkeError(e, 'ERR_USAGE');
    assert.throws(() => pinnedLogVerifiers({}, { DKE_LOG_VKEY: 'broken' }), usage);
    await assert.rejects(receiptPolicyFrom({ requireReceipt: true }, {}), usage);
    await assert.rejects(receiptPolicyFrom({ receiptDir: dir }, {}), usage);
    assert.equal(await receiptPolicyFrom({}, {}), undefined);
    const withDir = await receiptPolicyFrom({ receiptDir: dir, requireReceipt: true }, env);
    assert.equal(withDir?.require, true);
    assert.equal(typeof withDir?.onAccepted, 'function');
    await assert.rejects(receiptPolicyFrom({ receiptDir: path.join(dir, 'dke.db') }, env), (e: unknown) =>
      isDkeError(e, 'ERR_IO'),
    );
  });

  test('saving: atomic, 0600, named by object and key id; never a path from a key id', async () => {
    const accepted = await acceptReceipt(policy([ours.log.verifierKey]), receipt, SUBJECT);
    assert.ok(accepted);
    const file = await saveReceipt(dir, accepted);
    assert.equal(file, path.join(dir, `${OBJECT}.${KID}.tlog-proof`));
    assert.equal(await fs.readFile(file, 'utf8'), receipt);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    await saveReceipt(dir, accepted); // replaces the older one
    await assert.rejects(saveReceipt(dir, { ...accepted, keyId: '../../etc/x' }), (e: unknown) =>
      isDkeError(e, 'ERR_IO'),
    );
    assert.deepEqual(
      (await fs.readdir(dir)).filter((f) => f.includes('tmp')),
      [],
    );
  });
});
