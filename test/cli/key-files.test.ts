/**
 * Key files as docs/key-files.md specifies them, through the CLI: `--passphrase-file` uses the first line
 * only (as age and gpg do; CRLF, a BOM, an empty first line), and `dke encrypt -H KEYFILE` wraps to the key
 * derived from the private key, refusing a file whose `recipient` was edited to name another key.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { encodeRecipient, keyIdOf } from '../../src/crypto/holder-keys.js';
import { EXIT } from '../../src/errors/index.js';
import { parseHeader } from '../../src/format/header.js';
import { assertCliError, ecKeys, exists, runCli, tempDir, writeKeyFile } from '../support/format-helpers.js';

const dir = await tempDir();
const cli = (args: readonly string[], env?: Record<string, string>): ReturnType<typeof runCli> =>
  runCli(args, { cwd: dir, env });
const write = (name: string, content: string | Buffer): Promise<void> =>
  fs.writeFile(path.join(dir, name), content, { mode: 0o600 });

const [keyA, keyB, keyC] = ecKeys('P-256', 3);
const fileB = await writeKeyFile(dir, 'b.key', keyB!);
await write('message.txt', 'attack at dawn');

/** The key ids of the holders a written object names, in order. */
async function holdersOf(file: string): Promise<string[]> {
  const parsed = parseHeader(await fs.readFile(path.join(dir, file)));
  assert.ok(!('incomplete' in parsed));
  return parsed.header.stanzas.map((stanza) => stanza.keyId);
}

void describe('--passphrase-file: the first line is the passphrase', { concurrency: 2 }, () => {
  void test('keygen and decrypt use the first line; the rest of the file is ignored', async () => {
    await write('two-lines.txt', 'first line passphrase\nsecond line is a note\n');
    const made = await cli([
      'keygen',
      '-q',
      '-t',
      'P-256',
      '-o',
      'lines.key',
      '--passphrase-file',
      'two-lines.txt',
    ]);
    assert.equal(made.code, 0, made.stderr);
    await cli([
      'encrypt',
      '-H',
      made.stdout.toString().trim(),
      '-H',
      fileB,
      '-o',
      'lines.dke',
      'message.txt',
    ]);

    const variants: [string, string | Buffer][] = [
      ['no-newline.txt', 'first line passphrase'],
      ['crlf.txt', 'first line passphrase\r\nsecond\r\n'],
      ['bom.txt', '\ufefffirst line passphrase\n'],
      ['one-line.txt', 'first line passphrase\n'],
      ['no-final-newline.txt', 'first line passphrase\nsecond line is a note'],
    ];
    for (const [name, content] of variants) {
      await write(name, content);
      const opened = await cli([
        'decrypt',
        '-i',
        'lines.key',
        '-i',
        fileB,
        '--passphrase-file',
        name,
        'lines.dke',
      ]);
      assert.equal(opened.code, 0, `${name}: ${opened.stderr}`);
      assert.equal(opened.stdout.toString(), 'attack at dawn');
    }
    const viaEnv = await cli(['decrypt', '-i', 'lines.key', '-i', fileB, 'lines.dke'], {
      DKE_PASSPHRASE: 'first line passphrase',
    });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);

    // Only the line break ends the line: spaces around the passphrase are part of it.
    await write('padded.txt', ' first line passphrase \n');
    const padded = await cli([
      'decrypt',
      '-i',
      'lines.key',
      '-i',
      fileB,
      '--passphrase-file',
      'padded.txt',
      'lines.dke',
    ]);
    assertCliError(padded, EXIT.KEY, ['wrong passphrase']);
  });

  void test('an empty first line, an empty file or a file that is not UTF-8 is refused (exit 2), writing nothing', async () => {
    const cases: [string, string | Buffer, string][] = [
      ['blank-first.txt', '\nsecret on the second line\n', 'first line'],
      ['crlf-blank.txt', '\r\nsecret\r\n', 'first line'],
      ['empty.txt', '', 'first line'],
      ['latin1.txt', Buffer.from([0x70, 0xe4, 0x73, 0x73, 0x0a]), 'UTF-8'],
    ];
    for (const [name, content, mention] of cases) {
      await write(name, content);
      const made = await cli(['keygen', '-t', 'P-256', '-o', `${name}.key`, '--passphrase-file', name]);
      assertCliError(made, EXIT.USAGE, [name, mention]);
      assert.equal(await exists(path.join(dir, `${name}.key`)), false);
    }
    const empty = await cli(['keygen', '-t', 'P-256', '-o', 'env-empty.key'], { DKE_PASSPHRASE: '' });
    assertCliError(empty, EXIT.USAGE, ['passphrase is empty']);
  });
});

void describe("encrypt -H KEYFILE: the recipient is the private key's", { concurrency: 2 }, () => {
  void test('a key file whose recipient was edited to another key is refused; nothing is encrypted to that key', async () => {
    const fileA = await writeKeyFile(dir, 'a.key', keyA!);
    const json = JSON.parse(await fs.readFile(fileA, 'utf8')) as Record<string, unknown>;
    await write('edited.key', JSON.stringify({ ...json, recipient: encodeRecipient(keyC!) }, null, 2));

    const result = await cli(['encrypt', '-H', 'edited.key', '-H', fileB, '-o', 'edited.dke', 'message.txt']);
    assertCliError(result, EXIT.KEY, ['edited.key', 'recipient does not match']);
    assert.equal(await exists(path.join(dir, 'edited.dke')), false);

    // As an identity the inconsistent file is refused too.
    const asIdentity = await cli(['decrypt', '-i', 'edited.key', '-i', fileB, 'missing.dke']);
    assertCliError(asIdentity, EXIT.KEY, ['edited.key', 'recipient does not match']);

    // Editing keyId along with the recipient does not help: the key id is checked against the key as well.
    await write(
      'edited-both.key',
      JSON.stringify({ ...json, keyId: await keyIdOf(keyC!), recipient: encodeRecipient(keyC!) }),
    );
    const both = await cli([
      'encrypt',
      '-H',
      'edited-both.key',
      '-H',
      fileB,
      '-o',
      'both.dke',
      'message.txt',
    ]);
    assertCliError(both, EXIT.KEY, ['edited-both.key']);
    assert.equal(await exists(path.join(dir, 'both.dke')), false);

    // The unedited file encrypts to A, derived from its private key.
    const good = await cli(['encrypt', '-H', fileA, '-H', fileB, '-o', 'good.dke', 'message.txt']);
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(await holdersOf('good.dke'), [await keyIdOf(keyA!), await keyIdOf(keyB!)]);
  });

  void test('a key file with a repeated member is refused (no parser may see another key)', async () => {
    const fileA = await writeKeyFile(dir, 'a2.key', keyA!);
    const text = await fs.readFile(fileA, 'utf8');
    await write(
      'repeated.key',
      text.replace('"recipient"', `"recipient": "${encodeRecipient(keyC!)}",\n  "recipient"`),
    );
    const result = await cli([
      'encrypt',
      '-H',
      'repeated.key',
      '-H',
      fileB,
      '-o',
      'repeated.dke',
      'message.txt',
    ]);
    assertCliError(result, EXIT.KEY, ['repeated.key']);
    assert.equal(await exists(path.join(dir, 'repeated.dke')), false);
  });

  void test('a passphrase-protected key file needs its passphrase to be a holder; its recipient string does not', async () => {
    await writeKeyFile(dir, 'sealed.key', keyA!, 'sealed passphrase');
    await write('sealed-pass.txt', 'sealed passphrase\n');
    const without = await cli([
      'encrypt',
      '-H',
      'sealed.key',
      '-H',
      fileB,
      '-o',
      'sealed.dke',
      'message.txt',
    ]);
    assertCliError(without, EXIT.KEY, ['sealed.key', 'passphrase-protected']);
    assert.match(without.stderr, /^dke: hint: .*dkepub1:/m);
    assert.equal(await exists(path.join(dir, 'sealed.dke')), false);

    const [withFile, withEnv, recipient] = await Promise.all([
      cli([
        'encrypt',
        '-H',
        'sealed.key',
        '-H',
        fileB,
        '--passphrase-file',
        'sealed-pass.txt',
        '-o',
        's1.dke',
        'message.txt',
      ]),
      cli(['encrypt', '-H', 'sealed.key', '-H', fileB, '-o', 's2.dke', 'message.txt'], {
        DKE_PASSPHRASE: 'sealed passphrase',
      }),
      cli(['encrypt', '-H', encodeRecipient(keyA!), '-H', fileB, '-o', 's3.dke', 'message.txt']),
    ]);
    for (const [result, file] of [
      [withFile, 's1.dke'],
      [withEnv, 's2.dke'],
      [recipient, 's3.dke'],
    ] as const) {
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await holdersOf(file), [await keyIdOf(keyA!), await keyIdOf(keyB!)]);
    }
    const wrong = await cli(['encrypt', '-H', 'sealed.key', '-H', fileB, '-o', 's4.dke', 'message.txt'], {
      DKE_PASSPHRASE: 'not it',
    });
    assertCliError(wrong, EXIT.KEY, ['sealed.key', 'wrong passphrase']);
  });
});
