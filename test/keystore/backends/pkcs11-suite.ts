/**
 * The PKCS#11 backend against a real software token: key generation and import in the token, RSA-OAEP-256
 * and ECDH compared with node:crypto, the private key unreadable, bad input refused, destruction, a
 * session pool under load, and configuration errors. Run for NSS's softoken and for SoftHSM2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { keyIdOf } from '../../../src/crypto/holder-keys.js';
import { isDkeError, type ErrorCode } from '../../../src/errors/index.js';
import { Pkcs11KeyBackend, type PrivateKeyOperator } from '../../../src/keystore/backends/index.js';
import { sharedDir } from '../../support/paths.js';
import { createToken, skipWithoutToken, type TestToken, type TokenKind } from '../../support/tokens.js';

/** What SoftHSM2 2.6.1 cannot do: it refuses CKM_RSA_PKCS_OAEP with SHA-256 (CKR_ARGUMENTS_BAD). */
export const OAEP_SHA256 = { nss: true, softhsm: false } as const;
const NO_OAEP = 'SoftHSM2 2.6 refuses RSA-OAEP with SHA-256 (CKR_ARGUMENTS_BAD); tested on NSS';

export const rejectsCode = async (work: Promise<unknown>, code: ErrorCode): Promise<void> => {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(isDkeError(error), `expected a DkeError, got ${String(error)}`);
    assert.equal(error.code, code, `${error.code}: ${error.detail ?? error.message}`);
    return true;
  });
};

export function oaepEncrypt(publicKey: KeyObject, plaintext: Buffer): Buffer {
  return crypto.publicEncrypt(
    { key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    plaintext,
  );
}

const NODE_CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/**
 * Z from the peer side, in node:crypto: what the token must derive too. The peer key comes from the
 * ECDH class rather than generateKeyPair: Node 20 can deadlock in a garbage collection that frees a
 * key-generation job while the generated key is being exported (seen under this suite's load).
 */
export function nodeEcdh(publicKey: KeyObject): { peer: KeyObject; secret: Buffer } {
  const nodeCurve = publicKey.asymmetricKeyDetails?.namedCurve ?? '';
  const ecdh = crypto.createECDH(nodeCurve);
  const point = ecdh.generateKeys();
  const size = (point.length - 1) / 2;
  const peer = crypto.createPublicKey({
    key: {
      kty: 'EC',
      crv: NODE_CURVES[nodeCurve],
      x: point.subarray(1, 1 + size).toString('base64url'),
      y: point.subarray(1 + size).toString('base64url'),
    },
    format: 'jwk',
  });
  const jwk = publicKey.export({ format: 'jwk' });
  const theirs = Buffer.concat([
    Buffer.of(4),
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
  return { peer, secret: ecdh.computeSecret(theirs) };
}

/**
 * Reads attributes of the token's private key with a raw handle on the same module (C_Initialize is per
 * process, so it sees the backend's login): what anyone with the PIN could try.
 */
function tryReadPrivate(token: TestToken, ref: string, attribute: number): unknown {
  const p11 = new pkcs11js.PKCS11();
  p11.load(token.config.module);
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === token.label);
  assert.ok(slot);
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    p11.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref, 'hex') },
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    ]);
    const handle = p11.C_FindObjects(session);
    p11.C_FindObjectsFinal(session);
    assert.ok(handle, 'the private key object is there');
    try {
      return p11.C_GetAttributeValue(session, handle, [{ type: attribute }])[0]?.value;
    } catch (error) {
      return error;
    }
  } finally {
    p11.C_CloseSession(session);
  }
}

export function pkcs11BackendSuite(kind: TokenKind): void {
  describe(`PKCS#11 backend on ${kind}`, { skip: skipWithoutToken(kind) }, () => {
    let token: TestToken;
    let backend: Pkcs11KeyBackend;

    before(() => {
      token = createToken(kind);
    });
    after(async () => {
      await backend?.close();
      token?.remove();
    });

    describe('configuration and login', () => {
      test('a wrong PIN is refused with ERR_HSM_UNAVAILABLE, not retried, and says so in health', async () => {
        const pinFile = path.join(token.dir, 'wrong-pin.txt');
        fs.writeFileSync(pinFile, 'not-the-pin\n');
        const config = { ...token.config, pinEnv: undefined, pinFile };
        assert.throws(
          () => Pkcs11KeyBackend.open(config),
          (error: unknown) =>
            isDkeError(error, 'ERR_HSM_UNAVAILABLE') && /CKR_PIN_INCORRECT/.test(error.detail ?? ''),
        );
        const waiting = Pkcs11KeyBackend.open(config, { waitForToken: true, retryMinMs: 20, retryMaxMs: 50 });
        try {
          await new Promise((resolve) => setTimeout(resolve, 300));
          const health = waiting.health();
          assert.equal(health.ok, false);
          assert.equal(health.state, 'refused');
          await rejectsCode(waiting.generateKey('P-256', 'never'), 'ERR_HSM_UNAVAILABLE');
          // The right PIN in the file: the backend logs in by itself.
          fs.writeFileSync(pinFile, `${token.pin}\n`);
          await eventually(() => waiting.health().ok, 'the backend logs in once the PIN is right');
        } finally {
          await waiting.close();
        }
      });

      test('an unknown token label is ERR_HSM_UNAVAILABLE naming the label', () => {
        assert.throws(
          () => Pkcs11KeyBackend.open({ ...token.config, tokenLabel: 'no such token' }),
          (error: unknown) =>
            isDkeError(error, 'ERR_HSM_UNAVAILABLE') && /no such token/.test(error.detail ?? ''),
        );
      });

      test('the PIN must come from a file or a variable, exactly one', () => {
        const noPin = { ...token.config, pinFile: undefined, pinEnv: undefined };
        assert.throws(
          () => Pkcs11KeyBackend.open(noPin),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
        );
        assert.throws(
          () => Pkcs11KeyBackend.open({ ...noPin, pinFile: 'a', pinEnv: 'B' }),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
        );
        assert.throws(
          () => Pkcs11KeyBackend.open({ ...noPin, pinEnv: 'OPENDKE_TEST_UNSET_PIN_VARIABLE' }),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
        );
      });

      test('a module that does not load is ERR_CONFIG_INVALID', () => {
        assert.throws(
          () => Pkcs11KeyBackend.open({ ...token.config, module: path.join(token.dir, 'missing.so') }),
          (e: unknown) => isDkeError(e, 'ERR_CONFIG_INVALID'),
        );
      });
    });

    describe('keys in the token', () => {
      before(() => {
        backend = Pkcs11KeyBackend.open(token.config);
      });

      for (const spec of ['RSA-2048', 'RSA-3072', 'RSA-4096'] as const) {
        test(`${spec}: generated in the token, OAEP-SHA256 decrypts what node:crypto encrypted`, async (t) => {
          const key = await backend.generateKey(spec, `opendke/test-${spec}/v1`);
          assert.equal(key.spec, spec);
          assert.equal(key.publicKey.asymmetricKeyDetails?.modulusLength, Number(spec.slice(4)));
          assert.equal(key.publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
          assert.equal(key.keyId, await keyIdOf(key.publicKey));
          assert.equal(key.ref, Buffer.from(key.keyId, 'base64url').toString('hex'));
          const operator = await backend.operator(key.ref, key.keyId, spec);
          assert.equal(operator.backend, 'pkcs11');
          if (!OAEP_SHA256[kind]) return t.skip(NO_OAEP);
          for (const size of [32, 1, 64]) {
            const plaintext = crypto.randomBytes(size);
            const decrypted = await operator.decryptRsaOaepSha256(oaepEncrypt(key.publicKey, plaintext));
            assert.deepEqual(decrypted, plaintext);
          }
        });
      }

      for (const spec of ['P-256', 'P-384', 'P-521'] as const) {
        test(`${spec}: generated in the token, ECDH secret equals node:crypto's`, async () => {
          const key = await backend.generateKey(spec, `opendke/test-${spec}/v1`);
          assert.equal(key.publicKey.asymmetricKeyType, 'ec');
          assert.equal(key.keyId, await keyIdOf(key.publicKey));
          const operator = await backend.operator(key.ref, key.keyId, spec);
          for (let i = 0; i < 3; i++) {
            const { peer, secret } = nodeEcdh(key.publicKey);
            assert.deepEqual(await operator.deriveEcdh(peer), secret);
          }
        });
      }

      test('the public key read from the token is the generated one', async () => {
        const key = await backend.generateKey('P-384', 'opendke/public-read/v1');
        const read = await backend.publicKey(key.ref, 'P-384');
        assert.ok(read.equals(key.publicKey));
      });

      test('the private key cannot be read out: sensitive, never extractable, attribute reads refused', async () => {
        const rsa = await backend.generateKey('RSA-2048', 'opendke/unreadable-rsa/v1');
        const ec = await backend.generateKey('P-256', 'opendke/unreadable-ec/v1');
        for (const key of [rsa, ec]) {
          const flags = await backend.privateKeyFlags(key.ref);
          assert.deepEqual(
            { ...flags, label: undefined },
            {
              sensitive: true,
              extractable: false,
              alwaysSensitive: true,
              neverExtractable: true,
              label: undefined,
            },
          );
        }
        assert.equal((await backend.privateKeyFlags(rsa.ref)).label, 'opendke/unreadable-rsa/v1');
        for (const [key, attribute] of [
          [rsa, pkcs11js.CKA_PRIVATE_EXPONENT],
          [rsa, pkcs11js.CKA_PRIME_1],
          [ec, pkcs11js.CKA_VALUE],
        ] as const) {
          const result = tryReadPrivate(token, key.ref, attribute);
          assert.ok(result instanceof pkcs11js.Pkcs11Error, `attribute ${attribute} was readable`);
          assert.equal(result.code, pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
        }
      });

      test('an imported key (the MS DKE vector) works in the token and is sensitive from then on', async (t) => {
        const vectorDir = path.join(sharedDir, 'vectors', 'ms-dke');
        const pem = fs.readFileSync(path.join(vectorDir, 'private_key.pkcs1.pem'), 'utf8');
        const privateKey = crypto.createPrivateKey(pem);
        const key = await backend.importKey(privateKey, 'opendke/ms-dke-vector/v1');
        assert.equal(key.keyId, await keyIdOf(privateKey));
        assert.ok(key.publicKey.equals(crypto.createPublicKey(privateKey)));
        const flags = await backend.privateKeyFlags(key.ref);
        assert.equal(flags.sensitive, true);
        assert.equal(flags.extractable, false);
        // It existed outside the token, and the token says so.
        assert.equal(flags.alwaysSensitive, false);
        const result = tryReadPrivate(token, key.ref, pkcs11js.CKA_PRIVATE_EXPONENT);
        assert.ok(result instanceof pkcs11js.Pkcs11Error);
        if (!OAEP_SHA256[kind]) return t.skip(NO_OAEP);
        const operator = await backend.operator(key.ref, key.keyId, key.spec);
        const plaintext = crypto.randomBytes(32);
        assert.deepEqual(
          await operator.decryptRsaOaepSha256(oaepEncrypt(key.publicKey, plaintext)),
          plaintext,
        );
      });

      test('an imported EC key derives the same secret as node:crypto', async () => {
        const privateKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
        const key = await backend.importKey(privateKey, 'opendke/imported-ec/v1');
        const operator = await backend.operator(key.ref, key.keyId, 'P-384');
        const { peer, secret } = nodeEcdh(key.publicKey);
        assert.deepEqual(await operator.deriveEcdh(peer), secret);
      });

      test('input that does not decrypt or derive is ERR_DECRYPTION_FAILED', async (t) => {
        const ec = await backend.generateKey('P-256', 'opendke/bad-input-ec/v1');
        const ecOperator = await backend.operator(ec.ref, ec.keyId, 'P-256');
        const otherCurve = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
        await rejectsCode(ecOperator.deriveEcdh(otherCurve), 'ERR_DECRYPTION_FAILED');
        await rejectsCode(ecOperator.decryptRsaOaepSha256(Buffer.alloc(256)), 'ERR_DECRYPTION_FAILED');
        const rsa = await backend.generateKey('RSA-2048', 'opendke/bad-input-rsa/v1');
        const rsaOperator = await backend.operator(rsa.ref, rsa.keyId, 'RSA-2048');
        await rejectsCode(rsaOperator.deriveEcdh(otherCurve), 'ERR_DECRYPTION_FAILED');
        await rejectsCode(rsaOperator.decryptRsaOaepSha256(Buffer.alloc(100)), 'ERR_DECRYPTION_FAILED');
        // Not below the modulus (NSS would say CKR_ARGUMENTS_BAD): refused the same way on every token.
        await rejectsCode(rsaOperator.decryptRsaOaepSha256(Buffer.alloc(256, 0xff)), 'ERR_DECRYPTION_FAILED');
        if (!OAEP_SHA256[kind]) return t.skip(NO_OAEP);
        const ciphertext = oaepEncrypt(rsa.publicKey, Buffer.alloc(32, 7));
        ciphertext[10] = (ciphertext[10] as number) ^ 1;
        await rejectsCode(rsaOperator.decryptRsaOaepSha256(ciphertext), 'ERR_DECRYPTION_FAILED');
        // Encrypted to another key: decrypts to garbage, which OAEP's check refuses.
        const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
        await rejectsCode(
          rsaOperator.decryptRsaOaepSha256(oaepEncrypt(other, Buffer.alloc(32))),
          'ERR_DECRYPTION_FAILED',
        );
        // The session that saw the failures serves the next operation.
        const plaintext = crypto.randomBytes(32);
        assert.deepEqual(
          await rsaOperator.decryptRsaOaepSha256(oaepEncrypt(rsa.publicKey, plaintext)),
          plaintext,
        );
      });

      test('an operator for a key id the token does not hold under that reference is refused', async () => {
        const key = await backend.generateKey('P-256', 'opendke/wrong-id/v1');
        const other = await backend.generateKey('P-256', 'opendke/wrong-id/v2');
        await rejectsCode(backend.operator(key.ref, other.keyId, 'P-256'), 'ERR_INTERNAL');
        await rejectsCode(backend.operator('00'.repeat(32), key.keyId, 'P-256'), 'ERR_INTERNAL');
      });

      test('destroyKey removes both objects; the key is gone for every operator', async () => {
        const key = await backend.generateKey('P-256', 'opendke/destroyed/v1');
        const operator = await backend.operator(key.ref, key.keyId, 'P-256');
        const before = nodeEcdh(key.publicKey);
        assert.deepEqual(await operator.deriveEcdh(before.peer), before.secret);
        assert.equal(await backend.destroyKey(key.ref), 2);
        assert.equal(await backend.destroyKey(key.ref), 0);
        await rejectsCode(operator.deriveEcdh(nodeEcdh(key.publicKey).peer), 'ERR_INTERNAL');
        await rejectsCode(backend.operator(key.ref, key.keyId, 'P-256'), 'ERR_INTERNAL');
        assert.equal(backend.health().ok, true, 'a destroyed key is not a lost token');
      });

      test('many operations in parallel over the session pool all give node:crypto results', async () => {
        const ec = await backend.generateKey('P-256', 'opendke/parallel-ec/v1');
        const ecOperator: PrivateKeyOperator = await backend.operator(ec.ref, ec.keyId, ec.spec);
        const rsa = await backend.generateKey('RSA-2048', 'opendke/parallel-rsa/v1');
        const rsaOperator: PrivateKeyOperator = await backend.operator(rsa.ref, rsa.keyId, rsa.spec);
        let maxBusy = 0;
        const derive = async (): Promise<void> => {
          maxBusy = Math.max(maxBusy, backend.health().busy);
          const { peer, secret } = nodeEcdh(ec.publicKey);
          assert.deepEqual(await ecOperator.deriveEcdh(peer), secret);
        };
        const decrypt = async (): Promise<void> => {
          maxBusy = Math.max(maxBusy, backend.health().busy);
          const plaintext = crypto.randomBytes(32);
          assert.deepEqual(
            await rsaOperator.decryptRsaOaepSha256(oaepEncrypt(rsa.publicKey, plaintext)),
            plaintext,
          );
        };
        // NSS's softoken decrypts RSA slowly (docs/hsm.md "Performance"): fewer of those, mixed in.
        const rsaCount = OAEP_SHA256[kind] ? 24 : 0;
        await Promise.all([
          ...Array.from({ length: 200 }, derive),
          ...Array.from({ length: rsaCount }, decrypt),
        ]);
        const health = backend.health();
        assert.equal(health.busy, 0);
        assert.equal(health.waiting, 0);
        assert.ok(maxBusy <= (token.config.sessions ?? 4), `at most one operation per session (${maxBusy})`);
      });
    });
  });
}

export async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
