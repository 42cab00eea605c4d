/** C2SP signed notes: the spec's example vector, sign/verify round trips, every refusal, and a parser fuzz. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isDkeError } from '../../src/errors/index.js';
import {
  appendSignatures,
  generateSignerKey,
  KEY_TYPE_COSIGNATURE_V1,
  MAX_SIGNATURES,
  noteVerifier,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifyNote,
} from '../../src/transparency/index.js';
import { sharedDir } from '../support/paths.js';

const example = JSON.parse(
  readFileSync(path.join(sharedDir, 'vectors', 'signed-note', 'example.json'), 'utf8'),
) as { vkey: string; note: string };

const refused = (fn: () => unknown): void => {
  assert.throws(fn, (e: unknown) => isDkeError(e, 'ERR_PROOF_INVALID'));
};

describe('signed note', () => {
  test('the C2SP example verifies with its vkey', () => {
    const result = verifyNote(example.note, [noteVerifier(example.vkey)]);
    assert.equal(result.body, 'This is an example message.\n');
    assert.equal(result.verifiedBy.length, 1);
    const parsed = parseNote(Buffer.from(example.note, 'utf8'));
    assert.equal(parsed.signatures[0]?.keyHash.toString('hex'), '530d903a');
    assert.equal(parsed.signatures[0]?.signature.length, 64);
  });

  // The example key and note of golang.org/x/mod/sumdb/note's documentation: Ed25519 is deterministic, so
  // signing must reproduce the reference bytes (pins the signer key format and the signature line).
  test('the Go sumdb/note PeterNeumann key signs the reference note byte for byte', () => {
    const skey = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
    const vkey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
    const text =
      "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const want =
      text +
      '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
    assert.equal(signNote(text, [skey]), want);
    assert.equal(verifyNote(want, [noteVerifier(vkey)]).body, text);
    assert.deepEqual(parseSignerKey(skey).publicKey, parseVerifierKey(vkey).publicKey);
    // Go's bad-key table: wrong length and unknown type, each with a key ID adjusted to match.
    refused(() =>
      parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='),
    );
    refused(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'));
  });

  test('tampered body, signature or name is refused', () => {
    const v = [noteVerifier(example.vkey)];
    refused(() => verifyNote(example.note.replace('example message', 'exemple message'), v));
    const sigAt = example.note.indexOf('Uw2Q') + 20;
    const flipped =
      example.note.slice(0, sigAt) +
      (example.note[sigAt] === 'A' ? 'B' : 'A') +
      example.note.slice(sigAt + 1);
    refused(() => verifyNote(flipped, v));
    // A different name is an unknown key: ignored, so no known key verified.
    refused(() => verifyNote(example.note.replace('— example.com/foo', '— example.com/bar'), v));
  });

  test('unknown signers are ignored; a bad known signature refuses the note', () => {
    const log = generateSignerKey('log.example/a');
    const other = generateSignerKey('other.example/b');
    const note = signNote('hello\n\nworld\n', [log.signerKey, other.signerKey]);
    const result = verifyNote(note, [noteVerifier(log.verifierKey)]);
    assert.equal(result.body, 'hello\n\nworld\n');
    assert.equal(result.signatures.length, 2);
    // Same name and key ID as the known key but another signature: must be verified, and fails.
    const forged = signNote('hello\n\nworld\n', [generateSignerKey('log.example/a').signerKey]);
    const foreignLine = forged.slice(forged.lastIndexOf('\n\n') + 2);
    const [name, b64] = foreignLine.slice(2, -1).split(' ') as [string, string];
    const knownHash = parseVerifierKey(log.verifierKey).keyHash;
    const sig = Buffer.from(b64, 'base64');
    knownHash.copy(sig, 0);
    const evil = `hello\n\nworld\n\n— ${name} ${sig.toString('base64')}\n`;
    refused(() => verifyNote(evil, [noteVerifier(log.verifierKey)]));
  });

  test('quorum counts distinct known keys', () => {
    const a = generateSignerKey('a.example');
    const b = generateSignerKey('b.example');
    const c = generateSignerKey('c.example');
    const note = signNote('body\n', [a.signerKey, b.signerKey]);
    const vs = [a, b, c].map((k) => noteVerifier(k.verifierKey));
    assert.equal(verifyNote(note, vs, { quorum: 2 }).verifiedBy.length, 2);
    refused(() => verifyNote(note, vs, { quorum: 3 }));
    refused(() => verifyNote(note, vs, { quorum: 4 }));
    refused(() => verifyNote(note, [vs[0]!, vs[0]!]));
  });

  test('duplicate (name, key ID) signature lines are refused', () => {
    const a = generateSignerKey('a.example');
    const note = signNote('body\n', [a.signerKey]);
    refused(() => parseNote(note + note.slice(note.lastIndexOf('\n\n') + 2)));
  });

  test('malformed notes are refused', () => {
    const a = generateSignerKey('a.example');
    const note = signNote('body\n', [a.signerKey]);
    const line = note.slice(note.lastIndexOf('\n\n') + 2);
    for (const bad of [
      'body\n' + line, // no blank line
      'body\n\n', // no signatures
      note.slice(0, -1), // no final newline
      note.replace('—', '-'), // not an em dash
      note.replace('— a.example ', '— a.example  '), // two spaces
      note.replace('body', 'bo\tdy'), // control character
      note.replace('body', 'bo\rdy'),
      note.replace(/=?\n$/, '\n').replace(/(.)\n$/, '$1!\n'), // bad base64
      'body\n\n— a.example AAAA\n', // signature shorter than key ID + 1
      'body\n\n— a+b AAAAAAA=\n', // '+' in name
    ]) {
      refused(() => parseNote(bad));
    }
    refused(() => parseNote(Buffer.from([0x62, 0xff, 0x0a, 0x0a])));
    refused(() => parseNote('b\ud800\n\n' + line));
  });

  test('limits: signatures, note size, line length', () => {
    const keys = Array.from({ length: MAX_SIGNATURES + 1 }, (_, k) => generateSignerKey(`k${k}.example`));
    const sixteen = signNote(
      'body\n',
      keys.slice(0, 16).map((k) => k.signerKey),
    );
    assert.equal(verifyNote(sixteen, [noteVerifier(keys[15]!.verifierKey)]).verifiedBy.length, 1);
    refused(() =>
      signNote(
        'body\n',
        keys.map((k) => k.signerKey),
      ),
    );
    const line = sixteen.slice(sixteen.lastIndexOf('\n')); // keep parse happy up to the limit
    assert.ok(line.length > 0);
    refused(() => parseNote('x'.repeat(9000) + '\n\n— a.example AAAAAAA=\n'));
    refused(() => parseNote('x\n'.repeat(70000) + '\n— a.example AAAAAAA=\n'));
  });

  test('keys: vkey and signer key strings round trip; wrong key IDs and names are refused', () => {
    const { signerKey, verifierKey } = generateSignerKey('example.com/log');
    assert.match(signerKey, /^PRIVATE\+KEY\+example\.com\/log\+[0-9a-f]{8}\+A[Q-Za-f]/);
    assert.match(verifierKey, /^example\.com\/log\+[0-9a-f]{8}\+A[Q-Za-f]/);
    const s = parseSignerKey(signerKey);
    const v = parseVerifierKey(verifierKey);
    assert.deepEqual(s.publicKey, v.publicKey);
    assert.deepEqual(s.keyHash, v.keyHash);
    refused(() => parseVerifierKey(verifierKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')));
    refused(() => parseVerifierKey(verifierKey.replace('example.com/log', 'example.com/lug')));
    refused(() => generateSignerKey('has space'));
    refused(() => generateSignerKey(''));
    refused(() => generateSignerKey('a\u00a0b'));
    const witness = generateSignerKey('w.example', KEY_TYPE_COSIGNATURE_V1);
    refused(() => noteVerifier(witness.verifierKey)); // a 0x04 key is not a note key
    refused(() => signNote('body\n', [witness.signerKey]));
  });

  test('appendSignatures keeps a valid note', () => {
    const a = generateSignerKey('a.example');
    const b = generateSignerKey('b.example');
    const one = signNote('body\n', [a.signerKey]);
    const other = signNote('body\n', [b.signerKey]);
    const both = appendSignatures(one, [other.slice(other.lastIndexOf('\n\n') + 2)]);
    assert.equal(
      verifyNote(
        both,
        [a, b].map((k) => noteVerifier(k.verifierKey)),
        { quorum: 2 },
      ).verifiedBy.length,
      2,
    );
    refused(() => appendSignatures(one, ['not a signature\n']));
  });

  test('fuzz: parseNote throws nothing but ERR_PROOF_INVALID', () => {
    const a = generateSignerKey('a.example');
    const seed = signNote('origin\n1\nbody\n', [a.signerKey]);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc
            .tuple(fc.nat(seed.length), fc.nat(seed.length), fc.string({ maxLength: 8 }))
            .map(([i, j, s]) => seed.slice(0, Math.min(i, j)) + s + seed.slice(Math.max(i, j))),
          fc.uint8Array({ maxLength: 300 }),
        ),
        (input) => {
          try {
            verifyNote(input, [noteVerifier(a.verifierKey)]);
          } catch (e) {
            assert.ok(isDkeError(e, 'ERR_PROOF_INVALID'), String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
