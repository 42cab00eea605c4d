/**
 * The share JWE's protected header (docs/format.md §4.2, §7 step 4) is read strictly before anything is
 * decrypted: no `zip` (no decompression of attacker data in the unwrap path), no repeated member names at
 * any depth (two parsers must not see two different bindings), and a stanza body that is not a compact JWE
 * is ERR_HOLDER_BINDING_MISMATCH. The hand-built JWEs here are otherwise correct, so today's jose would
 * decrypt them: only the header rules refuse them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { keyIdOf } from '../../src/crypto/holder-keys.js';
import { readShareHeader, unwrapShare } from '../../src/format/share-jwe.js';
import { assertDkeError, vectorKey } from '../support/format-helpers.js';
import { handRsaJwe, shareHeaderJson } from '../support/hand-jwe.js';

const privateKey = vectorKey('valid-rsa3072-p384', 'RSA-3072');
const publicKey = createPublicKey(privateKey);
const kid = await keyIdOf(publicKey);
const objectId = randomBytes(16);
const oid = objectId.toString('base64url');
const share = randomBytes(32);
const expected = { keyId: kid, objectId };

async function refused(jwe: string, why: RegExp): Promise<void> {
  let fromRead: unknown;
  try {
    readShareHeader(jwe);
  } catch (error) {
    fromRead = error;
  }
  assert.match(assertDkeError(fromRead, 'ERR_HOLDER_BINDING_MISMATCH').detail ?? '', why);
  await assert.rejects(unwrapShare(jwe, privateKey, expected), (error: unknown) => {
    assertDkeError(error, 'ERR_HOLDER_BINDING_MISMATCH');
    return true;
  });
}

void test('the hand-built JWE is correct: with the normal header it unwraps', async () => {
  const jwe = handRsaJwe(shareHeaderJson(kid, oid), share, publicKey);
  const result = await unwrapShare(jwe, privateKey, expected);
  assert.ok(result.share.equals(share));
});

void test('a zip member is refused before decrypting, whatever its value', async () => {
  // jose would inflate a DEF plaintext (up to 250 kB by default): deflate(share) would unwrap to the share.
  await refused(
    handRsaJwe(shareHeaderJson(kid, oid, ',"zip":"DEF"'), deflateRawSync(share), publicKey),
    /zip/,
  );
  // A deflate bomb that fits a stanza: 2 MB of zeros in about 2 kB (jose would refuse it past 250 kB, after
  // inflating that much). Never inflated here.
  const bomb = deflateRawSync(Buffer.alloc(2_000_000), { level: 9 });
  const bombJwe = handRsaJwe(shareHeaderJson(kid, oid, ',"zip":"DEF"'), bomb, publicKey);
  assert.ok(bombJwe.length <= 4096, 'the bomb fits a stanza body');
  await refused(bombJwe, /zip/);
  await refused(handRsaJwe(shareHeaderJson(kid, oid, ',"zip":null'), share, publicKey), /zip/);
});

void test('a repeated member name is refused, at the top level and nested, even where JSON.parse would agree', async () => {
  const otherOid = randomBytes(16).toString('base64url');
  const cases = [
    // JSON.parse keeps the last "oid", the right one: a parser that keeps the first sees another object.
    shareHeaderJson(kid, otherOid, `,"oid":"${oid}"`),
    shareHeaderJson(kid, oid, `,"kid":"${kid}"`),
    shareHeaderJson(kid, oid, ',"typ":"opendke-share"'),
    // The same name spelled with an escape is the same name.
    shareHeaderJson(kid, oid, `,"\\u006fid":"${oid}"`),
    // Unknown members are ignored (§4.2), but must still be unambiguous.
    shareHeaderJson(kid, oid, ',"x-note":{"a":1,"a":2}'),
  ];
  for (const json of cases) await refused(handRsaJwe(json, share, publicKey), /duplicate member/);
});

void test('a body that is not a compact JWE with a JSON-object protected header is ERR_HOLDER_BINDING_MISMATCH', async () => {
  const valid = handRsaJwe(shareHeaderJson(kid, oid), share, publicKey);
  const [, ...rest] = valid.split('.');
  const withHeader = (text: string): string => [Buffer.from(text).toString('base64url'), ...rest].join('.');
  const bodies = [
    'abc.def', // too few parts
    `${valid}.x`, // too many parts
    `.${rest.join('.')}`, // empty protected header
    `e30=.${rest.join('.')}`, // not base64url (padding)
    [Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString('base64url'), ...rest].join('.'), // not UTF-8
    withHeader('[1,2]'), // not an object
    withHeader(`${shareHeaderJson(kid, oid)} x`), // text after the object
    withHeader(`{'alg':'RSA-OAEP-256'}`), // not JSON
    withHeader(`\ufeff${shareHeaderJson(kid, oid)}`), // a BOM is not JSON whitespace
  ];
  for (const body of bodies) await refused(body, /compact JWE|protected header/);
});

void test('the protected header may carry unknown members (ignored), and whitespace between tokens', async () => {
  const json = shareHeaderJson(kid, oid, ' , "x-note" : { "b" : [ 1, 2.5e3, true, null ] } ');
  const result = await unwrapShare(handRsaJwe(json, share, publicKey), privateKey, expected);
  assert.ok(result.share.equals(share));
});
