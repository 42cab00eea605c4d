/**
 * How decrypt() finds a holder for each stanza (docs/format.md §7 steps 4-6): given holders first, then
 * the resolver (remote key services) for the rest; unknown holder types and missing keys are reported with
 * the holder's type, key id and locator, before any holder is asked to unwrap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Stanza } from '../../src/format/header.js';
import {
  CleartextTestHolder,
  ForgedHolder,
  SpyRemoteHolder,
  decryptOutcome,
  ecKeys,
  encryptToBuffer,
  expectDecryptError,
  localHolders,
} from '../support/format-helpers.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';

const [holderA, holderB] = await localHolders(2);
const [, keyB, keyC] = ecKeys('P-256', 3);

void test('an unknown holder type is ERR_HOLDER_TYPE_UNSUPPORTED naming the type and key id, even with the key', async () => {
  const future = new ForgedHolder('hsm-v2', holderB!.keyId, 'urn:example:hsm:slot-7', keyB!);
  const object = await encryptToBuffer(Buffer.from('x'), [holderA!, future]);
  const error = await expectDecryptError(object, [holderA!, holderB!], 'ERR_HOLDER_TYPE_UNSUPPORTED', {
    mentions: ['hsm-v2', holderB!.keyId, 'urn:example:hsm:slot-7'],
    noPlaintext: true,
  });
  assert.ok(error.hint !== undefined);
  // Reported before missing keys of known types.
  await expectDecryptError(object, [], 'ERR_HOLDER_TYPE_UNSUPPORTED', { mentions: ['hsm-v2'] });
});

void test('a missing local key gives a hint to pass --identity; a missing remote one to trust --key-service', async () => {
  const object = await encryptToBuffer(Buffer.from('x'), [holderA!, holderB!]);
  const local = await expectDecryptError(object, [holderA!], 'ERR_HOLDER_KEY_MISSING');
  assert.match(local.hint ?? '', /--identity/);
  const inner = await LocalKeyHolder.fromKey(keyC!);
  const remote = new SpyRemoteHolder(inner.keyId, 'https://kms.example/keys/c', inner);
  const remoteObject = await encryptToBuffer(Buffer.from('x'), [holderA!, remote]);
  const error = await expectDecryptError(remoteObject, [holderA!], 'ERR_HOLDER_KEY_MISSING', {
    mentions: ['remote', inner.keyId, 'https://kms.example/keys/c'],
  });
  assert.match(error.hint ?? '', /--key-service/);
});

void test('the resolver is asked only about stanzas no given holder can unwrap; each holder unwraps once', async () => {
  const fast = [
    new CleartextTestHolder('h-1'),
    new CleartextTestHolder('h-2'),
    new CleartextTestHolder('h-3'),
  ];
  const object = await encryptToBuffer(Buffer.from('resolver'), fast);
  const asked: string[] = [];
  const outcome = await decryptOutcome(object, [fast[1]!], {
    resolveHolder: (stanza: Stanza) => {
      asked.push(stanza.keyId);
      return fast.find((holder) => holder.keyId === stanza.keyId);
    },
  });
  assert.equal(outcome.error, undefined);
  assert.equal(outcome.released.toString(), 'resolver');
  assert.deepEqual(asked, ['h-1', 'h-3']);
  assert.deepEqual(
    fast.map((holder) => holder.unwrapped.length),
    [1, 1, 1],
  );
});

void test('nothing is unwrapped when a binding check or a key lookup fails', async () => {
  const fast = [new CleartextTestHolder('h-1'), new CleartextTestHolder('h-2')];
  const object = await encryptToBuffer(Buffer.from('x'), fast);
  await expectDecryptError(object, [fast[0]!], 'ERR_HOLDER_KEY_MISSING', { mentions: ['h-2'] });
  assert.equal(fast[0]!.unwrapped.length, 0, 'h-1 was not asked while h-2 is missing');
});
