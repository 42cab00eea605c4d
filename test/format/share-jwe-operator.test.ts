/**
 * Share JWEs unwrapped through a key operator give exactly what jose gives with the private key, for every
 * key type, with software keys and with the same keys imported into NSS's softoken; every tampered part is
 * refused the same way; a token that cannot serve is ERR_HSM_UNAVAILABLE, not an unwrap failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import { generateHolderKey, keyIdOf, type KeySpec } from '../../src/crypto/holder-keys.js';
import { isDkeError, type ErrorCode } from '../../src/errors/index.js';
import { unwrapShare, wrapShare } from '../../src/format/share-jwe.js';
import { unwrapShareWith } from '../../src/format/share-jwe-operator.js';
import {
  Pkcs11KeyBackend,
  SoftwareKeyOperator,
  type PrivateKeyOperator,
} from '../../src/keystore/backends/index.js';
import { createToken, skipWithoutToken, type TestToken } from '../support/tokens.js';

const SPECS: readonly KeySpec[] = ['RSA-3072', 'RSA-4096', 'P-256', 'P-384', 'P-521'];
const OBJECT_ID = crypto.randomBytes(16);

interface Case {
  readonly spec: KeySpec;
  readonly privateKey: KeyObject;
  readonly keyId: string;
}

const cases: Case[] = [];

before(async () => {
  for (const spec of SPECS) {
    const privateKey = generateHolderKey(spec);
    cases.push({ spec, privateKey, keyId: await keyIdOf(privateKey) });
  }
});

const rejectsCode = async (work: Promise<unknown>, code: ErrorCode): Promise<void> => {
  await assert.rejects(work, (error: unknown) => isDkeError(error, code) || assert.fail(String(error)));
};

function tamper(jwe: string, part: number): string {
  const parts = jwe.split('.');
  const bytes = Buffer.from(parts[part] as string, 'base64url');
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

function sameAsJose(name: string, operatorOf: (c: Case) => Promise<PrivateKeyOperator>): void {
  for (const [index, spec] of SPECS.entries()) {
    test(`${name} ${spec}: the share and header jose gives, and the same refusals`, async () => {
      const c = cases[index] as Case;
      assert.equal(c.spec, spec);
      const operator = await operatorOf(c);
      const publicKey = crypto.createPublicKey(c.privateKey);
      const share = crypto.randomBytes(32);
      const jwe = await wrapShare(share, publicKey, { objectId: OBJECT_ID, keyId: c.keyId });
      const expected = { keyId: c.keyId, objectId: OBJECT_ID };
      const byJose = await unwrapShare(jwe, c.privateKey, expected);
      const byOperator = await unwrapShareWith(jwe, operator, expected);
      assert.deepEqual(byOperator, byJose);
      assert.deepEqual(byOperator.share, share);
      // Each part altered: the protected header (its AAD) and the encrypted key, iv, ciphertext and tag.
      for (const part of [1, 2, 3, 4]) {
        await rejectsCode(unwrapShare(tamper(jwe, part), c.privateKey), 'ERR_HOLDER_UNWRAP_FAILED');
        await rejectsCode(unwrapShareWith(tamper(jwe, part), operator), 'ERR_HOLDER_UNWRAP_FAILED');
      }
      const [head, ...rest] = jwe.split('.');
      const header = JSON.parse(Buffer.from(head as string, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
      const altered = Buffer.from(JSON.stringify({ ...header, kid: `${c.keyId}x` })).toString('base64url');
      await rejectsCode(unwrapShareWith([altered, ...rest].join('.'), operator), 'ERR_HOLDER_UNWRAP_FAILED');
      await rejectsCode(unwrapShareWith(jwe, operator, { keyId: 'other' }), 'ERR_HOLDER_BINDING_MISMATCH');
      await rejectsCode(
        unwrapShareWith(jwe, operator, { objectId: crypto.randomBytes(16) }),
        'ERR_HOLDER_BINDING_MISMATCH',
      );
      if (header.epk !== undefined) {
        // The sender's key replaced by one on the wrong curve, and by a point off the curve.
        const epk = header.epk as Record<string, string>;
        const other = crypto.generateKeyPairSync('ec', { namedCurve: spec === 'P-256' ? 'P-384' : 'P-256' });
        for (const bad of [other.publicKey.export({ format: 'jwk' }), { ...epk, y: epk.x }]) {
          const h = Buffer.from(JSON.stringify({ ...header, epk: bad })).toString('base64url');
          await rejectsCode(unwrapShareWith([h, ...rest].join('.'), operator), 'ERR_HOLDER_UNWRAP_FAILED');
        }
      }
      // A wrapped share for another key of the same type.
      const stranger = generateHolderKey(spec);
      const foreign = await wrapShare(share, crypto.createPublicKey(stranger), {
        objectId: OBJECT_ID,
        keyId: c.keyId,
      });
      await rejectsCode(unwrapShareWith(foreign, operator), 'ERR_HOLDER_UNWRAP_FAILED');
    });
  }
}

describe('share JWE through a software operator', () => {
  sameAsJose('software', (c) => Promise.resolve(new SoftwareKeyOperator(c.spec, [c.privateKey])));
});

describe('share JWE through a PKCS#11 operator (NSS softoken)', { skip: skipWithoutToken('nss') }, () => {
  let token: TestToken;
  let backend: Pkcs11KeyBackend;
  before(() => {
    token = createToken('nss');
    backend = Pkcs11KeyBackend.open(token.config);
  });
  after(async () => {
    await backend?.close();
    token?.remove();
  });

  sameAsJose('pkcs11', async (c) => {
    const key = await backend.importKey(c.privateKey, `opendke/jwe-${c.spec}/v1`);
    return backend.operator(key.ref, key.keyId, key.spec);
  });

  test('a token that cannot serve is ERR_HSM_UNAVAILABLE, not an unwrap failure', async () => {
    const c = cases[2] as Case;
    const key = await backend.importKey(c.privateKey, 'opendke/jwe-unavailable/v1');
    const operator = await backend.operator(key.ref, key.keyId, key.spec);
    const jwe = await wrapShare(crypto.randomBytes(32), crypto.createPublicKey(c.privateKey), {
      objectId: OBJECT_ID,
      keyId: c.keyId,
    });
    await backend.close();
    await rejectsCode(unwrapShareWith(jwe, operator), 'ERR_HSM_UNAVAILABLE');
  });
});
