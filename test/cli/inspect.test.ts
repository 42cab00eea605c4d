/**
 * `dke inspect`: format version, object id, chunk size, holders with their key ids (and locators, and
 * holder types it cannot decrypt), and the sizes, as text and as --json, without any key.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EXIT } from '../../src/errors/index.js';
import { LocalKeyHolder } from '../../src/holders/local-key.js';
import {
  C,
  SpyRemoteHolder,
  assertCliError,
  ecKeys,
  encryptToBuffer,
  loadVector,
  localHolders,
  patternBytes,
  runCli,
  splitObject,
  tempDir,
} from '../support/format-helpers.js';

const dir = await tempDir();
const cli = (args: readonly string[]): ReturnType<typeof runCli> => runCli(args, { cwd: dir });
const holders = await localHolders(2);

interface Report {
  file: string;
  format: string;
  objectId: string;
  chunkSize: number;
  headerBytes: number;
  fileBytes: number;
  chunks: number;
  plaintextBytes: number | null;
  holders: { type: string; keyId: string; locator: string | null; wrap: string | null }[];
}

async function writeObject(name: string, bytes: Buffer): Promise<string> {
  await fs.writeFile(path.join(dir, name), bytes);
  return name;
}

void describe('dke inspect', { concurrency: 4 }, () => {
  void test('text: version, object id, chunk size, holders with key ids, sizes', async () => {
    const plaintext = patternBytes(2 * C + 10);
    const object = await encryptToBuffer(plaintext, holders);
    const { header, headerBytes } = splitObject(object);
    const result = await cli(['inspect', await writeObject('doc.dke', object)]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const text = result.stdout.toString();
    assert.match(text, /^format: +OpenDKE v1 /m);
    assert.match(text, new RegExp(`^object id: +${header.objectId.toString('base64url')}$`, 'm'));
    assert.match(text, /^chunk size: +1048576 bytes$/m);
    assert.match(
      text,
      new RegExp(
        `^sizes: +${object.length} bytes on disk, header ${headerBytes.length}, 3 chunk\\(s\\), plaintext ${plaintext.length} bytes$`,
        'm',
      ),
    );
    assert.match(text, /^holders: +2$/m);
    for (const [i, holder] of holders.entries()) {
      assert.match(text, new RegExp(`^  ${i + 1}\\. local key ${holder.keyId} \\(ECDH-ES\\+A256KW\\)$`, 'm'));
    }
    assert.match(text, /not yet authenticated/, 'says that nothing was authenticated');
  });

  void test('--json: every field', async () => {
    const object = await encryptToBuffer(Buffer.alloc(0), holders, { chunkLog2: 12 });
    const { header, headerBytes } = splitObject(object);
    const result = await cli(['inspect', '--json', await writeObject('empty.dke', object)]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout.toString()) as Report;
    assert.deepEqual(report, {
      file: 'empty.dke',
      format: 'OpenDKE v1',
      objectId: header.objectId.toString('base64url'),
      chunkSize: 4096,
      headerBytes: headerBytes.length,
      fileBytes: object.length,
      chunks: 1,
      plaintextBytes: 0,
      holders: holders.map((holder) => ({
        type: 'local',
        keyId: holder.keyId,
        locator: null,
        wrap: 'ECDH-ES+A256KW',
      })),
    });
  });

  void test('a full last chunk is counted right, and remote holders show their locator', async () => {
    const inner = await LocalKeyHolder.fromKey(ecKeys('P-384', 1)[0]!);
    const remote = new SpyRemoteHolder(inner.keyId, 'https://kms.example/keys/acme', inner);
    const object = await encryptToBuffer(patternBytes(2 * 4096), [holders[0]!, remote], { chunkLog2: 12 });
    const [json, text] = await Promise.all([
      cli(['inspect', '--json', await writeObject('remote.dke', object)]),
      cli(['inspect', 'remote.dke']),
    ]);
    const report = JSON.parse(json.stdout.toString()) as Report;
    assert.equal(report.chunks, 2);
    assert.equal(report.plaintextBytes, 2 * 4096);
    assert.deepEqual(report.holders[1], {
      type: 'remote',
      keyId: inner.keyId,
      locator: 'https://kms.example/keys/acme',
      wrap: 'ECDH-ES+A256KW',
    });
    assert.match(
      text.stdout.toString(),
      new RegExp(
        `^  2\\. remote key ${inner.keyId} at https://kms\\.example/keys/acme \\(ECDH-ES\\+A256KW\\)$`,
        'm',
      ),
    );
  });

  void test('holders of unknown type are shown (inspect needs no key); RSA wraps are named', async () => {
    const unknown = loadVector('fail-unknown-holder-type');
    const rsa = loadVector('valid-rsa3072-p384');
    const [a, b] = await Promise.all([
      writeObject('unknown.dke', Buffer.from(unknown.ciphertext, 'base64')).then((f) =>
        cli(['inspect', '--json', f]),
      ),
      writeObject('rsa.dke', Buffer.from(rsa.ciphertext, 'base64')).then((f) =>
        cli(['inspect', '--json', f]),
      ),
    ]);
    assert.equal(a.code, 0, a.stderr);
    const unknownReport = JSON.parse(a.stdout.toString()) as Report;
    assert.deepEqual(
      unknownReport.holders.map((h) => [h.type, h.keyId, h.locator]),
      [
        ['local', unknown.keys[0]!.kid, null],
        ['hsm-v2', unknown.keys[1]!.kid, 'urn:example:hsm:slot-7'],
      ],
    );
    const rsaReport = JSON.parse(b.stdout.toString()) as Report;
    assert.deepEqual(
      rsaReport.holders.map((h) => h.wrap),
      ['RSA-OAEP-256', 'ECDH-ES+A256KW'],
    );
    assert.equal(rsaReport.plaintextBytes, 5000);
  });

  void test('not an OpenDKE file: exit 4; unsupported version: exit 4; missing file: exit 3', async () => {
    const v2 = loadVector('fail-version-2');
    const [notDke, version, missing] = await Promise.all([
      writeObject('notes.txt', Buffer.from('plain text')).then((f) => cli(['inspect', f])),
      writeObject('v2.dke', Buffer.from(v2.ciphertext, 'base64')).then((f) => cli(['inspect', f])),
      cli(['inspect', 'nowhere.dke']),
    ]);
    assertCliError(notDke, EXIT.FORMAT, ['not an OpenDKE file']);
    assertCliError(version, EXIT.FORMAT, ['version 2']);
    assertCliError(missing, EXIT.IO, ['nowhere.dke']);
    for (const result of [notDke, version, missing]) assert.equal(result.stdout.length, 0);
  });
});
