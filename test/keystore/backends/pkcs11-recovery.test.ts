/**
 * The token going away for real, underneath the backend, and coming back: every session closed by another
 * user of the module in the middle of a load (NSS and SoftHSM2), and the SoftHSM2 token removed (its files
 * moved away and the module finalized) then put back. While the token is gone every operation fails closed
 * with ERR_HSM_UNAVAILABLE and health says so; no operation gives a wrong answer; once it is back the
 * backend reconnects by itself, without a restart, and the same keys work.
 *
 * The token is always taken away between two operations: both software modules free a session that is
 * closed under a running call and then crash or deadlock (use after free, seen here with NSS and
 * SoftHSM2), which a real device's driver answers with CKR_DEVICE_REMOVED instead.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import pkcs11js from 'pkcs11js';
import { isDkeError } from '../../../src/errors/index.js';
import {
  Pkcs11KeyBackend,
  type PrivateKeyOperator,
  type TokenKey,
} from '../../../src/keystore/backends/index.js';
import { createToken, skipWithoutToken, type TestToken, type TokenKind } from '../../support/tokens.js';
import { eventually, nodeEcdh, oaepEncrypt, rejectsCode } from './pkcs11-suite.js';

/** A second handle on the same module: C_Initialize state is per process, so this acts on the backend's. */
function underneath(token: TestToken): { p11: pkcs11js.PKCS11; slot: Buffer } {
  const p11 = new pkcs11js.PKCS11();
  p11.load(token.config.module);
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === token.label);
  assert.ok(slot, 'the token is there');
  return { p11, slot };
}

/** One operation with its expected answer, from node:crypto. */
async function checkedOperation(key: TokenKey, operator: PrivateKeyOperator): Promise<'ok' | 'unavailable'> {
  try {
    if (key.spec.startsWith('RSA-')) {
      const plaintext = crypto.randomBytes(32);
      const decrypted = await operator.decryptRsaOaepSha256(oaepEncrypt(key.publicKey, plaintext));
      assert.deepEqual(decrypted, plaintext, 'never a wrong answer');
    } else {
      const { peer, secret } = nodeEcdh(key.publicKey);
      assert.deepEqual(await operator.deriveEcdh(peer), secret, 'never a wrong answer');
    }
    return 'ok';
  } catch (error) {
    if (isDkeError(error, 'ERR_HSM_UNAVAILABLE')) return 'unavailable';
    throw error;
  }
}

function sessionsClosedMidLoad(kind: TokenKind): void {
  describe(
    `${kind}: every session closed underneath in the middle of a load`,
    { skip: skipWithoutToken(kind) },
    () => {
      let token: TestToken | undefined;
      let backend: Pkcs11KeyBackend | undefined;
      after(async () => {
        await backend?.close();
        token?.remove();
      });

      test('operations fail closed, health says so, the backend reconnects by itself', async () => {
        token = createToken(kind);
        backend = Pkcs11KeyBackend.open(token.config, { retryMinMs: 50, retryMaxMs: 500 });
        const open = backend;
        // OAEP-SHA256 on NSS; SoftHSM2 refuses it, so ECDH there.
        const key = await open.generateKey(kind === 'nss' ? 'RSA-2048' : 'P-256', 'opendke/recovery/v1');
        const operator = await open.operator(key.ref, key.keyId, key.spec);

        const results = { ok: 0, unavailable: 0 };
        let stop = false;
        let paused: Promise<void> | undefined;
        const worker = async (): Promise<void> => {
          while (!stop) {
            await paused;
            results[await checkedOperation(key, operator)]++;
            // A refusal is immediate: without a turn of the event loop the workers would starve the timers.
            await new Promise(setImmediate);
          }
        };
        const workers = Array.from({ length: 8 }, worker);
        await eventually(() => results.ok >= 20, 'the load runs');
        // Between two operations (see above): hold the workers, close every session, let them go.
        let resume = (): void => undefined;
        paused = new Promise((resolve) => (resume = resolve));
        await eventually(() => open.health().busy === 0, 'no operation in flight');
        const { p11, slot } = underneath(token);
        const okBefore = results.ok;
        p11.C_CloseAllSessions(slot);
        paused = undefined;
        resume();
        await eventually(() => results.unavailable > 0, 'operations fail with ERR_HSM_UNAVAILABLE');
        await eventually(
          () => open.health().ok && results.ok > okBefore + 20,
          'the backend recovers under load',
        );
        stop = true;
        await Promise.all(workers);
        assert.ok(open.health().reconnects >= 1);
        assert.equal(await checkedOperation(key, operator), 'ok');
      });
    },
  );
}

sessionsClosedMidLoad('nss');
sessionsClosedMidLoad('softhsm');

describe('softhsm: the token removed, then put back', { skip: skipWithoutToken('softhsm') }, () => {
  let token: TestToken | undefined;
  let backend: Pkcs11KeyBackend | undefined;
  after(async () => {
    await backend?.close();
    token?.remove();
  });

  test('while it is gone: 503 and an unhealthy backend; once it is back: the same keys, by itself', async () => {
    token = createToken('softhsm');
    const tokenDir = token.tokenDir as string;
    const states: string[] = [];
    backend = Pkcs11KeyBackend.open(token.config, {
      retryMinMs: 50,
      retryMaxMs: 200,
      onStateChange: (health) => states.push(health.state),
    });
    const open = backend;
    const key = await open.generateKey('P-384', 'opendke/removed/v1');
    const operator = await open.operator(key.ref, key.keyId, key.spec);
    assert.equal(await checkedOperation(key, operator), 'ok');

    // "Pull the device": its files go away and the module is finalized underneath (no operation in flight).
    const { p11 } = underneath(token);
    fs.renameSync(tokenDir, `${tokenDir}.away`);
    p11.C_Finalize();
    await rejectsCode(operator.deriveEcdh(nodeEcdh(key.publicKey).peer), 'ERR_HSM_UNAVAILABLE');
    await eventually(() => open.health().state === 'unavailable', 'the reconnection fails while it is gone');
    // SoftHSM2 without its token directory fails C_Initialize (CKR_GENERAL_ERROR).
    assert.match(
      open.health().lastError ?? '',
      /connecting to token "opendke softhsm test"|no token labelled/,
    );
    // It keeps failing closed, at once, for as long as the token is gone.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(open.health().ok, false);
    await rejectsCode(operator.deriveEcdh(nodeEcdh(key.publicKey).peer), 'ERR_HSM_UNAVAILABLE');
    await rejectsCode(open.generateKey('P-256', 'opendke/removed/v2'), 'ERR_HSM_UNAVAILABLE');

    // "Plug it back in".
    fs.renameSync(`${tokenDir}.away`, tokenDir);
    await eventually(() => open.health().ok, 'the backend reconnects by itself');
    assert.equal(await checkedOperation(key, operator), 'ok');
    assert.deepEqual(states.slice(0, 2), ['recovering', 'unavailable']);
    assert.equal(states.at(-1), 'ready');
  });
});

describe('nss: a service that starts before its token', { skip: skipWithoutToken('nss') }, () => {
  test('waitForToken: unavailable until the token is there, then ready by itself', async () => {
    const token = createToken('nss');
    const dbConfig = token.config.libraryParameters ?? '';
    const away = `${token.dir}/db-away`;
    fs.renameSync(`${token.dir}/db`, away);
    // NSS opens an empty database where none is: give it one it cannot open, a file, instead.
    fs.writeFileSync(`${token.dir}/db`, 'not a directory');
    const backend = Pkcs11KeyBackend.open(
      { ...token.config, libraryParameters: dbConfig },
      { waitForToken: true, retryMinMs: 50, retryMaxMs: 200 },
    );
    try {
      assert.equal(backend.health().ok, false);
      await rejectsCode(backend.generateKey('P-256', 'opendke/late/v1'), 'ERR_HSM_UNAVAILABLE');
      fs.rmSync(`${token.dir}/db`);
      fs.renameSync(away, `${token.dir}/db`);
      await eventually(() => backend.health().ok, 'the backend connects once the token is there');
      const key = await backend.generateKey('P-256', 'opendke/late/v1');
      const operator = await backend.operator(key.ref, key.keyId, key.spec);
      assert.equal(await checkedOperation(key, operator), 'ok');
    } finally {
      await backend.close();
      token.remove();
    }
  });
});
