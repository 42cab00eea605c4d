/** The software backend's operator: node:crypto results, bad input refused per the operator contract. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { generateHolderKey, type KeySpec } from '../../../src/crypto/holder-keys.js';
import { SoftwareKeyOperator } from '../../../src/keystore/backends/index.js';
import { nodeEcdh, oaepEncrypt, rejectsCode } from './pkcs11-suite.js';

function operatorFor(spec: KeySpec): { operator: SoftwareKeyOperator; privateKey: crypto.KeyObject } {
  const privateKey = generateHolderKey(spec);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const handles = [0, 1, 2].map(() => crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return { operator: new SoftwareKeyOperator(spec, handles), privateKey };
}

describe('software key operator', () => {
  for (const spec of ['RSA-2048', 'RSA-3072'] as const) {
    test(`${spec}: RSA-OAEP-256 decrypts what node:crypto encrypted, on every handle`, async () => {
      const { operator, privateKey } = operatorFor(spec);
      assert.equal(operator.backend, 'software');
      assert.ok(operator.publicKey.equals(crypto.createPublicKey(privateKey)));
      for (let i = 0; i < 4; i++) {
        const plaintext = crypto.randomBytes(32);
        assert.deepEqual(
          await operator.decryptRsaOaepSha256(oaepEncrypt(operator.publicKey, plaintext)),
          plaintext,
        );
      }
    });
  }

  for (const spec of ['P-256', 'P-384', 'P-521'] as const) {
    test(`${spec}: the ECDH secret equals node:crypto's`, async () => {
      const { operator } = operatorFor(spec);
      for (let i = 0; i < 4; i++) {
        const { peer, secret } = nodeEcdh(operator.publicKey);
        assert.deepEqual(await operator.deriveEcdh(peer), secret);
      }
    });
  }

  test('input that does not decrypt or derive is ERR_DECRYPTION_FAILED', async () => {
    const rsa = operatorFor('RSA-2048').operator;
    const ec = operatorFor('P-256').operator;
    const otherCurve = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    await rejectsCode(rsa.decryptRsaOaepSha256(Buffer.alloc(256, 1)), 'ERR_DECRYPTION_FAILED');
    await rejectsCode(rsa.decryptRsaOaepSha256(Buffer.alloc(10)), 'ERR_DECRYPTION_FAILED');
    await rejectsCode(rsa.deriveEcdh(nodeEcdh(ec.publicKey).peer), 'ERR_DECRYPTION_FAILED');
    await rejectsCode(ec.deriveEcdh(otherCurve), 'ERR_DECRYPTION_FAILED');
    await rejectsCode(ec.deriveEcdh(rsa.publicKey), 'ERR_DECRYPTION_FAILED');
    await rejectsCode(ec.decryptRsaOaepSha256(Buffer.alloc(256)), 'ERR_DECRYPTION_FAILED');
  });

  test('needs a private key', () => {
    const publicKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    assert.throws(() => new SoftwareKeyOperator('P-256', [publicKey]));
    assert.throws(() => new SoftwareKeyOperator('P-256', []));
  });
});
