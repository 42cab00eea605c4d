/**
 * The known-answer vectors of testdata/vectors/ (docs/format.md §9, schema in testdata/vectors/README.md).
 * Each file is decrypted with the library and must give exactly its expected plaintext or failure code.
 * The vectors were made by scripts/make-vectors.ts, an independent builder; they are never regenerated here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHmac, hkdfSync } from 'node:crypto';
import { keyIdOf, wrapAlgFor } from '../../src/crypto/holder-keys.js';
import { parseHeader, serializeUnauthenticated } from '../../src/format/header.js';
import { deriveObjectKeys } from '../../src/format/key-schedule.js';
import { unwrapShare } from '../../src/format/share-jwe.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';
import { ERRORS } from '../../src/errors/index.js';
import {
  assertDkeError,
  decryptOutcome,
  privateKeyFromPkcs8,
  vectorsDir,
  type Vector,
} from '../support/format-helpers.js';

const REQUIRED = [
  'valid-empty',
  'valid-one-byte',
  'valid-exactly-one-chunk',
  'valid-multi-chunk',
  'valid-multi-chunk-full-last',
  'valid-three-holders',
  'valid-rsa3072-p384',
  'fail-bad-magic',
  'fail-version-2',
  'fail-holder-count-1',
  'fail-chunk-log2-11',
  'fail-truncated-header',
  'fail-header-only',
  'fail-flipped-commitment',
  'fail-flipped-mac',
  'fail-chunk-size-changed',
  'fail-flipped-chunk-byte',
  'fail-flipped-tag-byte',
  'fail-truncated-at-chunk-boundary',
  'fail-truncated-mid-chunk',
  'fail-trailing-byte',
  'fail-swapped-chunks',
  'fail-dropped-chunk',
  'fail-duplicated-chunk',
  'fail-empty-last-chunk-after-data',
  'fail-spliced-stanza',
  'fail-jwe-kid-mismatch',
  'fail-key-missing',
  'fail-wrong-key-same-kid',
  'fail-unknown-holder-type',
  'fail-local-locator',
  'fail-duplicate-holder-key',
  'fail-jwe-zip',
  'fail-jwe-duplicate-member',
  'fail-body-not-jwe',
];

const files = readdirSync(vectorsDir)
  .filter((file) => file.endsWith('.json'))
  .sort();
const vectors = files.map((file) => JSON.parse(readFileSync(path.join(vectorsDir, file), 'utf8')) as Vector);

const b64url = (text: string): Buffer => Buffer.from(text, 'base64url');

void test('the vector set is complete and well-formed', () => {
  const names = vectors.map((vector) => vector.name);
  for (const name of REQUIRED) assert.ok(names.includes(name), `missing vector ${name}`);
  for (const [i, vector] of vectors.entries()) {
    assert.equal(vector.schema, 'opendke-test-vector/1');
    assert.equal(`${vector.name}.json`, files[i], 'file name is the vector name');
    assert.equal(typeof vector.description, 'string');
    assert.ok(vector.keys.length >= 1);
    assert.ok(
      'plaintext' in vector.expect || vector.expect.error in ERRORS,
      `${vector.name}: unknown error code`,
    );
    assert.equal(
      vector.name.startsWith('valid-'),
      'plaintext' in vector.expect,
      `${vector.name}: name says valid/fail`,
    );
  }
});

for (const vector of vectors) {
  void test(`vector ${vector.name}`, async () => {
    const ciphertext = Buffer.from(vector.ciphertext, 'base64');
    const holders: LocalKeyHolder[] = [];
    for (const entry of vector.keys) {
      const key = privateKeyFromPkcs8(entry.pkcs8);
      assert.equal(await keyIdOf(key), entry.kid, 'kid is the RFC 7638 thumbprint of the key');
      assert.equal(wrapAlgFor(key), entry.alg);
      holders.push(await LocalKeyHolder.fromKey(key));
    }

    // In one piece and in awkward pieces: the outcome must not depend on how the bytes arrive.
    for (const pieceSizes of [undefined, [1, 7, 4113, 250]]) {
      const outcome = await decryptOutcome(ciphertext, holders, {}, pieceSizes);
      if ('plaintext' in vector.expect) {
        assert.equal(outcome.error, undefined, `decryption failed: ${String(outcome.error)}`);
        assert.ok(
          outcome.released.equals(Buffer.from(vector.expect.plaintext, 'base64')),
          'plaintext differs',
        );
      } else {
        const mentions = vector.expect.holder === undefined ? [] : [vector.expect.holder];
        assertDkeError(outcome.error, vector.expect.error, mentions);
      }
    }

    if (vector.header !== undefined && vector.keySchedule !== undefined) {
      // The header fields and every intermediate of the key schedule, as an independent reader would see them.
      const parsed = parseHeader(ciphertext);
      assert.ok(!('incomplete' in parsed));
      const { header } = parsed;
      assert.equal(parsed.length, vector.header.headerLength);
      assert.equal(header.version, vector.header.version);
      assert.equal(header.objectId.toString('base64url'), vector.header.objectId);
      assert.equal(header.chunkLog2, vector.header.chunkLog2);
      assert.deepEqual(
        header.stanzas.map((stanza) => ({ type: stanza.type, kid: stanza.keyId, locator: stanza.locator })),
        vector.header.holders,
      );
      const schedule = vector.keySchedule;
      const shares = schedule.shares.map(b64url);
      for (const [i, stanza] of header.stanzas.entries()) {
        const entry = vector.keys.find((key) => key.kid === stanza.keyId);
        assert.ok(entry, 'every holder of a valid vector has its key in the vector');
        const { share } = await unwrapShare(stanza.body, privateKeyFromPkcs8(entry.pkcs8), {
          keyId: stanza.keyId,
          objectId: header.objectId,
        });
        assert.ok(share.equals(shares[i] as Buffer), `share ${i} unwraps to the listed value`);
      }
      const contentKey = Buffer.from(
        hkdfSync('sha256', Buffer.concat(shares), header.objectId, Buffer.from('OpenDKE v1 content key'), 32),
      );
      assert.equal(contentKey.toString('base64url'), schedule.contentKey);
      const keys = deriveObjectKeys(shares, header.objectId);
      assert.equal(keys.payloadKey.toString('base64url'), schedule.payloadKey);
      assert.equal(keys.macKey.toString('base64url'), schedule.macKey);
      assert.equal(keys.commitment.toString('base64url'), schedule.commitment);
      assert.equal(header.commitment.toString('base64url'), schedule.commitment);
      assert.equal(header.mac.toString('base64url'), schedule.mac);
      const mac = createHmac('sha256', b64url(schedule.macKey))
        .update(serializeUnauthenticated(header))
        .digest();
      assert.equal(mac.toString('base64url'), schedule.mac);
    }
  });
}
