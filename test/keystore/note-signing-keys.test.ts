/** The service's own note keys: created once, sealed under the master key, stable across opens and processes. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { isDkeError } from '../../src/errors/index.js';
import { MasterKey } from '../../src/keystore/index.js';
import { serviceNoteKey, storedVerifierKey } from '../../src/keystore/note-signing-keys.js';
import { openSqliteStore } from '../../src/store/index.js';
import {
  cosign,
  cosignatureVerifier,
  formatCheckpointBody,
  noteVerifier,
  signNote,
  verifyCosignatures,
  verifyNote,
} from '../../src/transparency/index.js';
import { withTempDir } from '../store/temp-dir.js';

test(
  'a role key is created once, sealed, and the same key on every later open',
  withTempDir(async (dir) => {
    const file = path.join(dir, 'store.db');
    const master = MasterKey.generate();
    const store = openSqliteStore(file);
    assert.equal(await storedVerifierKey(store, 'audit-log'), undefined);
    const first = await serviceNoteKey(store, master, 'audit-log', 'dke.example/opendke/audit');
    await store.close();

    const again = openSqliteStore(file);
    const second = await serviceNoteKey(again, master, 'audit-log', 'dke.example/opendke/audit');
    assert.equal(second.verifierKey, first.verifierKey);
    assert.equal(await storedVerifierKey(again, 'audit-log'), first.verifierKey);
    // The stored form holds no private key in clear.
    const raw = (await again.getMeta('note_key:audit-log')) ?? '';
    assert.ok(!raw.includes('PRIVATE+KEY'));

    // It signs notes its verifier key accepts.
    const note = signNote('hello\n', [second.signer]);
    assert.deepEqual(verifyNote(note, [noteVerifier(first.verifierKey)]).verifiedBy.length, 1);
    await again.close();
  }),
);

test(
  'the witness key cosigns (cosignature/v1) and is separate from the log key',
  withTempDir(async (dir) => {
    const store = openSqliteStore(path.join(dir, 'store.db'));
    const master = MasterKey.generate();
    const log = await serviceNoteKey(store, master, 'audit-log', 'a.example/opendke/audit');
    const witness = await serviceNoteKey(store, master, 'witness', 'a.example/witness');
    assert.notEqual(log.verifierKey, witness.verifierKey);
    const body = formatCheckpointBody({
      origin: 'b.example/opendke/audit',
      size: 1n,
      rootHash: Buffer.alloc(32, 7),
    });
    const other = await serviceNoteKey(store, master, 'witness', 'a.example/witness');
    const line = cosign(body, other.signer, 1_700_000_000n);
    const cosigned = `${signNote(body, [log.signer])}${line}`;
    const result = verifyCosignatures(cosigned, [cosignatureVerifier(witness.verifierKey)], {
      quorum: 1,
      now: 1_700_000_000,
    });
    assert.equal(result.cosigners.length, 1);
    await store.close();
  }),
);

test(
  'another name for an existing role key, or another master key, is refused',
  withTempDir(async (dir) => {
    const store = openSqliteStore(path.join(dir, 'store.db'));
    const master = MasterKey.generate();
    await serviceNoteKey(store, master, 'audit-log', 'a.example/opendke/audit');
    await assert.rejects(
      () => serviceNoteKey(store, master, 'audit-log', 'b.example/opendke/audit'),
      (error) => isDkeError(error, 'ERR_CONFIG_INVALID'),
    );
    await assert.rejects(
      () => serviceNoteKey(store, MasterKey.generate(), 'audit-log', 'a.example/opendke/audit'),
      (error) => isDkeError(error, 'ERR_MASTER_KEY'),
    );
    await store.close();
  }),
);
