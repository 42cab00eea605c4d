/**
 * The witness core over the real SQLite store: the compare-and-set is what decides a race between two
 * processes (one HTTP server serializes its own requests, so only a second connection can interleave).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../../src/store/index.js';
import { createWitness, parseAddCheckpointRequest } from '../../src/witness/witness.js';
import {
  formatCheckpointBody,
  generateSignerKey,
  hashLeaf,
  KEY_TYPE_COSIGNATURE_V1,
  parseSignerKey,
  signNote,
} from '../../src/transparency/index.js';

const ORIGIN = 'log.example.test/log';

void test('a submission that loses the race to another process between its check and its write gets 409, nothing cosigned', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dke-witness-'));
  const file = path.join(dir, 'store.db');
  const mine = openSqliteStore(file);
  const other = openSqliteStore(file);
  try {
    const log = generateSignerKey(ORIGIN);
    const signer = parseSignerKey(generateSignerKey('w.example.test/w', KEY_TYPE_COSIGNATURE_V1).signerKey);
    let raced = false;
    const witness = createWitness({
      logs: [{ origin: ORIGIN, vkey: log.verifierKey }],
      signer,
      store: {
        getWitnessedLog: async (origin) => {
          const seen = await mine.getWitnessedLog(origin);
          if (!raced) {
            raced = true; // another server cosigns size 3 right after our read
            assert.equal(
              await other.compareAndSetWitnessedLog(origin, 0n, 3n, Buffer.alloc(32, 3), 'now'),
              true,
            );
          }
          return seen;
        },
        compareAndSetWitnessedLog: (...args) => mine.compareAndSetWitnessedLog(...args),
      },
    });
    const body = formatCheckpointBody({ origin: ORIGIN, size: 1, rootHash: hashLeaf(Buffer.from('a')) });
    const request = parseAddCheckpointRequest(Buffer.from(`old 0\n\n${signNote(body, [log.signerKey])}`));
    const result = await witness.addCheckpoint(request);
    assert.equal(result.status, 409);
    assert.equal(result.status === 409 && result.knownSize, 3n);
    assert.equal((await mine.getWitnessedLog(ORIGIN))?.size, 3n, 'the winner stays');
  } finally {
    await mine.close();
    await other.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
