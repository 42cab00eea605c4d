/**
 * `dke encrypt` / `dke decrypt` end to end: files and stdin/stdout, empty and multi-megabyte inputs,
 * every way to name a holder, output files (atomic, 0600 plaintext, --force), agreement with the library,
 * and the usage and input errors with their documented exit codes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { encodeRecipient } from '../../src/crypto/holder-keys.js';
import { EXIT } from '../../src/errors/index.js';
import {
  C,
  assertCliError,
  decryptToBuffer,
  ecKeys,
  encryptToBuffer,
  leftoverTemporaries,
  localHolders,
  patternBytes,
  runCli,
  splitObject,
  tempDir,
  writeKeyFile,
} from '../support/format-helpers.js';

const dir = await tempDir();
const cli = (args: readonly string[], input?: Uint8Array): ReturnType<typeof runCli> =>
  runCli(args, { cwd: dir, input });
const file = (name: string): string => path.join(dir, name);
/** Temporaries left for these outputs (tests run concurrently in one folder: others may be mid-write). */
const leftoversOf = async (...outputs: string[]): Promise<string[]> =>
  (await leftoverTemporaries(dir)).filter((name) => outputs.some((output) => name.startsWith(`.${output}.`)));

const [keyA, keyB] = ecKeys('P-256', 2) as [
  ReturnType<typeof ecKeys>[number],
  ReturnType<typeof ecKeys>[number],
];
const holders = await localHolders(2);
await writeKeyFile(dir, 'a.key', keyA);
await writeKeyFile(dir, 'b.key', keyB);
const recipientB = encodeRecipient(keyB);
const identities = ['-i', 'a.key', '-i', 'b.key'];

void describe('dke encrypt and decrypt', { concurrency: 4 }, () => {
  void test('files: encrypt -o, decrypt -o; plaintext output is 0600; nothing left behind', async () => {
    const plaintext = patternBytes(3 * C + 17, 1);
    await fs.writeFile(file('report.pdf'), plaintext);
    const encrypted = await cli([
      'encrypt',
      '-H',
      'a.key',
      '-H',
      recipientB,
      '-o',
      'report.pdf.dke',
      'report.pdf',
    ]);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    assert.equal(encrypted.stdout.length, 0);
    const object = await fs.readFile(file('report.pdf.dke'));
    assert.equal(splitObject(object).chunks.length, 4);
    // The library reads what the CLI wrote.
    assert.ok((await decryptToBuffer(object, holders)).equals(plaintext));

    const decrypted = await cli(['decrypt', ...identities, '-o', 'report.out.pdf', 'report.pdf.dke']);
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.equal(decrypted.stdout.length, 0);
    assert.ok((await fs.readFile(file('report.out.pdf'))).equals(plaintext));
    assert.equal((await fs.stat(file('report.out.pdf'))).mode & 0o777, 0o600);
    assert.deepEqual(await leftoversOf('report.pdf.dke', 'report.out.pdf'), []);
  });

  void test('stdin to stdout, a 3 MiB input (several chunks) and the empty input', async () => {
    for (const plaintext of [patternBytes(3 * 1024 * 1024 + 5, 2), Buffer.alloc(0)]) {
      const encrypted = await cli(['encrypt', '--holder', 'a.key', '--holder', 'b.key'], plaintext);
      assert.equal(encrypted.code, 0, encrypted.stderr);
      assert.equal(encrypted.stderr, '');
      const object = encrypted.stdout;
      assert.equal(splitObject(object).chunks.length, Math.max(1, Math.ceil(plaintext.length / C)));
      assert.ok((await decryptToBuffer(object, holders)).equals(plaintext), 'library decrypts CLI output');
      const decrypted = await cli(['decrypt', ...identities, '-'], object);
      assert.equal(decrypted.code, 0, decrypted.stderr);
      assert.equal(decrypted.stdout.length, plaintext.length);
      assert.ok(decrypted.stdout.equals(plaintext), `stdout round trip of ${plaintext.length} bytes`);
    }
  });

  void test('a large file through files: 5 MiB + 1', async () => {
    const plaintext = patternBytes(5 * 1024 * 1024 + 1, 3);
    await fs.writeFile(file('big.bin'), plaintext);
    const encrypted = await cli(['encrypt', '-H', 'a.key', '-H', 'b.key', '-o', 'big.dke', 'big.bin']);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    const decrypted = await cli(['decrypt', ...identities, '-o', 'big.out', 'big.dke']);
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.ok((await fs.readFile(file('big.out'))).equals(plaintext));
  });

  void test('the CLI decrypts what the library wrote, at any chunk size', async () => {
    const plaintext = patternBytes(50_000, 4);
    const object = await encryptToBuffer(plaintext, holders, { chunkLog2: 12 });
    const result = await cli(['decrypt', ...identities], object);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.equals(plaintext));
  });

  void test('holders as key file, recipient, recipient file, PEM and JWK public keys', async () => {
    await fs.writeFile(file('b.recipient'), `${recipientB}\n`);
    await fs.writeFile(file('a.pem'), createPublicKey(keyA).export({ type: 'spki', format: 'pem' }));
    await fs.writeFile(file('b.jwk'), JSON.stringify(createPublicKey(keyB).export({ format: 'jwk' })));
    const forms: [string, string][] = [
      ['a.key', recipientB],
      [encodeRecipient(keyA), 'b.recipient'],
      ['a.pem', 'b.jwk'],
    ];
    await Promise.all(
      forms.map(async ([first, second]) => {
        const encrypted = await cli(['encrypt', '-H', first, '-H', second], Buffer.from(`via ${first}`));
        assert.equal(encrypted.code, 0, encrypted.stderr);
        const { header } = splitObject(encrypted.stdout);
        assert.deepEqual(
          header.stanzas.map((stanza) => stanza.keyId),
          holders.map((holder) => holder.keyId),
          'stanzas in the order the holders were named',
        );
        assert.equal((await decryptToBuffer(encrypted.stdout, holders)).toString(), `via ${first}`);
      }),
    );
  });

  void test('an existing output file is refused without --force and replaced with it', async () => {
    await fs.writeFile(file('note.txt'), 'new content');
    await fs.writeFile(file('note.dke'), 'old ciphertext');
    const refused = await cli(['encrypt', '-H', 'a.key', '-H', 'b.key', '-o', 'note.dke', 'note.txt']);
    assertCliError(refused, EXIT.IO, ['note.dke already exists']);
    assert.match(refused.stderr, /^dke: hint: .*--force/m);
    assert.equal(await fs.readFile(file('note.dke'), 'utf8'), 'old ciphertext');
    const forced = await cli([
      'encrypt',
      '-H',
      'a.key',
      '-H',
      'b.key',
      '-o',
      'note.dke',
      '--force',
      'note.txt',
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    const object = await fs.readFile(file('note.dke'));
    assert.equal((await decryptToBuffer(object, holders)).toString(), 'new content');

    await fs.writeFile(file('note.out'), 'old plaintext');
    const refusedDecrypt = await cli(['decrypt', ...identities, '-o', 'note.out', 'note.dke']);
    assertCliError(refusedDecrypt, EXIT.IO, ['note.out already exists']);
    assert.equal(await fs.readFile(file('note.out'), 'utf8'), 'old plaintext');
    const forcedDecrypt = await cli(['decrypt', ...identities, '-f', '-o', 'note.out', 'note.dke']);
    assert.equal(forcedDecrypt.code, 0, forcedDecrypt.stderr);
    assert.equal(await fs.readFile(file('note.out'), 'utf8'), 'new content');
    assert.deepEqual(await leftoversOf('note.dke', 'note.out'), []);
  });

  void test('encrypt with one holder: exit 2, dke: error: and dke: hint:', async () => {
    const result = await cli(['encrypt', '-H', 'a.key', '-o', 'one.dke'], Buffer.from('x'));
    assertCliError(result, EXIT.USAGE, ['at least two holders']);
    assert.match(result.stderr, /^dke: hint: .*--holder/m);
    await assert.rejects(fs.stat(file('one.dke')));
    assertCliError(await cli(['encrypt', '-o', 'none.dke'], Buffer.from('x')), EXIT.USAGE);
  });

  void test('missing input, missing key file, unreadable holder: exit 3 or 5 with dke: error:', async () => {
    const [noInput, noInputDecrypt, noIdentity, noHolderFile, badRecipient, inputIsDir] = await Promise.all([
      cli(['encrypt', '-H', 'a.key', '-H', 'b.key', 'does-not-exist.txt']),
      cli(['decrypt', ...identities, '-o', 'x.out', 'does-not-exist.dke']),
      cli(['decrypt', '-i', 'missing.key', 'anything.dke']),
      cli(['encrypt', '-H', 'a.key', '-H', 'missing-holder.key'], Buffer.from('x')),
      cli(['encrypt', '-H', 'a.key', '-H', 'dkepub1:not-a-key'], Buffer.from('x')),
      cli(['encrypt', '-H', 'a.key', '-H', 'b.key', '.']),
    ]);
    assertCliError(noInput, EXIT.IO, ['does-not-exist.txt', 'no such file']);
    assertCliError(noInputDecrypt, EXIT.IO, ['does-not-exist.dke', 'no such file']);
    assertCliError(noIdentity, EXIT.IO, ['missing.key']);
    assertCliError(noHolderFile, EXIT.IO, ['missing-holder.key']);
    assertCliError(badRecipient, EXIT.KEY, ['dkepub1']);
    assertCliError(inputIsDir, EXIT.IO, ['is a directory']);
    assert.equal(noInput.stdout.length, 0);
    await assert.rejects(fs.stat(file('x.out')));
  });

  void test('an identity that is not a key file: exit 5', async () => {
    await fs.writeFile(file('not-a-key.txt'), 'hello');
    assertCliError(await cli(['decrypt', '-i', 'not-a-key.txt', 'x.dke']), EXIT.KEY, ['not-a-key.txt']);
  });

  void test('decrypting something that is not an OpenDKE file: exit 4', async () => {
    await fs.writeFile(file('plain.txt'), 'just some text, no magic here');
    const [fromFile, fromStdin, empty] = await Promise.all([
      cli(['decrypt', ...identities, '-o', 'plain.out', 'plain.txt']),
      cli(['decrypt', ...identities], Buffer.from('%PDF-1.7 ...')),
      cli(['decrypt', ...identities], Buffer.alloc(0)),
    ]);
    assertCliError(fromFile, EXIT.FORMAT, ['not an OpenDKE file']);
    assertCliError(fromStdin, EXIT.FORMAT, ['not an OpenDKE file']);
    assertCliError(empty, EXIT.FORMAT, ['empty input']);
    assert.equal(fromStdin.stdout.length, 0);
    await assert.rejects(fs.stat(file('plain.out')));
  });
});
