/**
 * `dke audit check-proof` and `dke audit verify --checkpoint` on a real SQLite store written by the real
 * audit log, with bundles and checkpoints signed by locally generated log and witness keys: valid evidence
 * passes; a tampered bundle, a wrong key, a short witness quorum, a bad checkpoint signature, a checkpoint
 * beyond the log and a log rewritten with every hash recomputed all exit 10, naming what failed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EXIT } from '../../src/errors/index.js';
import { MasterKey, openKeyService, type KeyService } from '../../src/keystore/index.js';
import {
  formatCheckpointBody,
  formatTlogProof,
  generateSignerKey,
  parseTlogProof,
  signNote,
} from '../../src/transparency/index.js';
import { assertCliError, runCli } from '../support/format-helpers.js';
import { buildReceipt, checkpointNote, TEST_ORIGIN, testLogKeys } from '../support/receipts.js';
import { rewriteAuditLog } from '../support/rewrite-log.js';

const MASTER = MasterKey.fromBytes(Buffer.alloc(32, 9));
const RECORDS = 20;

describe('dke audit check-proof and verify --checkpoint', () => {
  let dir: string;
  const keys = testLogKeys(2);
  const [w1, w2] = keys.witnesses as [TestKey, TestKey];
  const vkey = keys.log.verifierKey;
  let server: http.Server;
  let checkpointUrl = '';
  const files: Record<string, string> = {};

  const open = (db = 'dke.db'): Promise<KeyService> =>
    openKeyService({ dbPath: path.join(dir, db), masterKey: MASTER });

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-audit-proof-'));
    const service = await open();
    try {
      for (let k = 1; k <= RECORDS; k++) {
        await service.audit.append({
          action: 'native.unwrap',
          result: 'allowed',
          issuer: 'https://login.example.test',
          subject: `sub-${k}`,
          userName: k === 7 ? 'eve\u001b[31m@example.test' : `user${k}@example.test`,
          keyName: 'finance',
          keyVersion: 3,
          keyId: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
          objectId: 'q83vEjRWeJCrze8SNFZ4kA',
          clientAddress: '192.0.2.7',
          requestId: `req-${k}`,
        });
      }
      const write = async (name: string, text: string): Promise<void> => {
        files[name] = path.join(dir, name);
        await fs.writeFile(files[name], text);
      };
      const bundle = (seq: number, options: Parameters<typeof buildReceipt>[4] = {}): Promise<string> =>
        buildReceipt(service.store, service.audit, keys, seq, options);
      await write(
        'cosigned.tlog-proof',
        await bundle(7, { size: 15, cosigners: [w1.signerKey, w2.signerKey] }),
      );
      await write('one-witness.tlog-proof', await bundle(7, { size: 15, cosigners: [w1.signerKey] }));
      const parsed = parseTlogProof(await bundle(7, { size: 15 }));
      const changed = Buffer.from(parsed.extra?.toString('utf8').replace('sub-7', 'sub-8') ?? '');
      await write('tampered.tlog-proof', formatTlogProof({ ...parsed, extra: changed }));
      await write(
        'cp15.note',
        await checkpointNote(service.audit, keys, { size: 15, cosigners: [w1.signerKey, w2.signerKey] }),
      );
      await write('cp20.note', await checkpointNote(service.audit, keys, { size: 20 }));
      await write(
        'cp15-one.note',
        await checkpointNote(service.audit, keys, { size: 15, cosigners: [w2.signerKey] }),
      );
      // Same name, another key: a forged log signature.
      const forger = { ...keys, log: generateSignerKey(TEST_ORIGIN) };
      await write('forged.note', await checkpointNote(service.audit, forger, { size: 15 }));
      const head = await service.audit.treeHead(20);
      await write(
        'cp25.note',
        signNote(formatCheckpointBody({ origin: TEST_ORIGIN, size: 25, rootHash: head.rootHash }), [
          keys.log.signerKey,
        ]),
      );
    } finally {
      await service.close();
    }
    server = http.createServer((_request, response) => {
      void fs.readFile(files['cp15.note'] as string).then((text) => {
        response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        response.end(text);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    checkpointUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit/checkpoint`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.rm(dir, { recursive: true, force: true });
  });

  const cli = (args: readonly string[]): ReturnType<typeof runCli> => runCli(args, { cwd: dir });
  const witnessFlags = (): string[] => ['--witness-vkey', w1.verifierKey, '--witness-vkey', w2.verifierKey];

  describe('check-proof', () => {
    it('verifies a cosigned bundle offline and prints who, what, when, the checkpoint and its witnesses', async () => {
      const result = await cli([
        'audit',
        'check-proof',
        'cosigned.tlog-proof',
        '--log-vkey',
        vkey,
        ...witnessFlags(),
      ]);
      assert.equal(result.code, 0, result.stderr);
      const out = result.stdout.toString('utf8');
      assert.match(out, /^record {5}7 \(entry 6\) of keys\.example\.test\/opendke\/audit$/m);
      assert.match(out, /^action {5}native\.unwrap allowed$/m);
      assert.match(
        out,
        /^who {8}eve\uFFFD\[31m@example\.test \(subject sub-7, issuer https:\/\/login\.example\.test\)$/m,
      );
      assert.match(out, /^object {5}q83vEjRWeJCrze8SNFZ4kA$/m);
      assert.match(out, /^checkpoint keys\.example\.test\/opendke\/audit size 15 root \S+$/m);
      assert.match(out, /^witnesses {2}witness-1\.example\.test at \S+, witness-2\.example\.test at \S+$/m);
      assert.ok(!out.includes('\u001b'), 'no control characters reach the terminal');
      const json = await cli(['audit', 'check-proof', 'cosigned.tlog-proof', '--log-vkey', vkey, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout.toString('utf8')) as {
        index: number;
        record: { seq: number; requestId: string };
        checkpoint: { size: number; cosigners: unknown[] };
      };
      assert.equal(report.index, 6);
      assert.equal(report.record.requestId, 'req-7');
      assert.equal(report.checkpoint.size, 15);
      assert.deepEqual(report.checkpoint.cosigners, [], 'no witness policy given: none counted');
    });

    it('needs no database or config: runs in an empty folder', async () => {
      const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-empty-'));
      try {
        const result = await runCli(['audit', 'check-proof', '-', '--log-vkey', vkey], {
          cwd: empty,
          input: await fs.readFile(files['cosigned.tlog-proof'] as string),
        });
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await fs.readdir(empty), [], 'no database was created');
      } finally {
        await fs.rm(empty, { recursive: true, force: true });
      }
    });

    it('refuses a tampered bundle, a wrong log key and a short witness quorum (exit 10)', async () => {
      assertCliError(
        await cli(['audit', 'check-proof', 'tampered.tlog-proof', '--log-vkey', vkey]),
        EXIT.AUDIT,
        ['inclusion proof'],
      );
      const other = generateSignerKey(TEST_ORIGIN).verifierKey;
      assertCliError(
        await cli(['audit', 'check-proof', 'cosigned.tlog-proof', '--log-vkey', other]),
        EXIT.AUDIT,
        ['no signature from a known key'],
      );
      assertCliError(
        await cli(['audit', 'check-proof', 'one-witness.tlog-proof', '--log-vkey', vkey, ...witnessFlags()]),
        EXIT.AUDIT,
        ['too few'],
      );
      const enough = await cli([
        'audit',
        'check-proof',
        'one-witness.tlog-proof',
        '--log-vkey',
        vkey,
        ...witnessFlags(),
        '--quorum',
        '1',
      ]);
      assert.equal(enough.code, 0, enough.stderr);
      assert.match(enough.stdout.toString('utf8'), /^witnesses {2}witness-1\.example\.test at /m);
    });

    it('usage errors: no --log-vkey, a bad key, an unsatisfiable quorum, a missing file', async () => {
      assertCliError(await cli(['audit', 'check-proof', 'cosigned.tlog-proof']), EXIT.USAGE, ['--log-vkey']);
      assertCliError(
        await cli(['audit', 'check-proof', 'cosigned.tlog-proof', '--log-vkey', 'x+y+z']),
        EXIT.USAGE,
      );
      assertCliError(
        await cli([
          'audit',
          'check-proof',
          'cosigned.tlog-proof',
          '--log-vkey',
          vkey,
          '--witness-vkey',
          vkey,
        ]),
        EXIT.USAGE,
        ['--witness-vkey'],
      );
      assertCliError(
        await cli([
          'audit',
          'check-proof',
          'cosigned.tlog-proof',
          '--log-vkey',
          vkey,
          ...witnessFlags(),
          '--quorum',
          '3',
        ]),
        EXIT.USAGE,
        ['--quorum'],
      );
      assertCliError(
        await cli(['audit', 'check-proof', 'cosigned.tlog-proof', '--log-vkey', vkey, '--quorum', '1']),
        EXIT.USAGE,
        ['--witness-vkey'],
      );
      assertCliError(await cli(['audit', 'check-proof', 'nothing.tlog-proof', '--log-vkey', vkey]), EXIT.IO);
    });
  });

  describe('verify --checkpoint', () => {
    const verify = (
      db: string,
      checkpoint: string,
      extra: readonly string[] = [],
    ): ReturnType<typeof runCli> =>
      cli(['audit', 'verify', '--db', db, '--checkpoint', checkpoint, '--log-vkey', vkey, ...extra]);

    it('a correct cosigned checkpoint passes; the longer log reports its current root', async () => {
      const result = await verify('dke.db', 'cp15.note', witnessFlags());
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        /consistent with checkpoint keys\.example\.test\/opendke\/audit size 15, cosigned by witness-1\.example\.test at \S+, witness-2\.example\.test at \S+; the log continues to 20 records, current root [0-9a-f]{64}/,
      );
      const equal = await verify('dke.db', 'cp20.note', ['--json']);
      assert.equal(equal.code, 0, equal.stderr);
      const report = JSON.parse(equal.stdout.toString('utf8')) as {
        ok: boolean;
        records: number;
        checkpoint: { size: number };
      };
      assert.deepEqual([report.ok, report.records, report.checkpoint.size], [true, 20, 20]);
    });

    it('fetches the checkpoint from a URL (http only on loopback)', async () => {
      const result = await verify('dke.db', checkpointUrl, witnessFlags());
      assert.equal(result.code, 0, result.stderr);
      assertCliError(await verify('dke.db', 'http://checkpoints.example.test/audit/checkpoint'), EXIT.USAGE, [
        'https',
      ]);
    });

    it('a bad log signature or too few cosignatures: exit 10, the checkpoint does not verify', async () => {
      assertCliError(await verify('dke.db', 'forged.note'), EXIT.AUDIT, ['the checkpoint does not verify']);
      assertCliError(await verify('dke.db', 'cp15-one.note', witnessFlags()), EXIT.AUDIT, [
        'the checkpoint does not verify',
        'too few',
      ]);
      const one = await verify('dke.db', 'cp15-one.note', [...witnessFlags(), '--quorum', '1']);
      assert.equal(one.code, 0, one.stderr);
      assertCliError(
        await cli(['audit', 'verify', '--db', 'dke.db', '--checkpoint', 'cp15.note']),
        EXIT.USAGE,
        ['--log-vkey'],
      );
      assertCliError(await cli(['audit', 'verify', '--db', 'dke.db', '--log-vkey', vkey]), EXIT.USAGE, [
        '--checkpoint',
      ]);
    });

    it('a checkpoint larger than the local log: exit 10, records are missing', async () => {
      assertCliError(await verify('dke.db', 'cp25.note'), EXIT.AUDIT, [
        'inconsistent with checkpoint keys.example.test/opendke/audit size 25',
        'only 20 records',
      ]);
      const json = await verify('dke.db', 'cp25.note', ['--json']);
      assertCliError(json, EXIT.AUDIT, ['only 20 records']);
      const report = JSON.parse(json.stdout.toString('utf8')) as {
        ok: boolean;
        records: number;
        checkpoint: { size: number };
      };
      assert.deepEqual([report.ok, report.records, report.checkpoint.size], [false, 20, 25]);
    });

    it('a log rewritten with every chain hash and the tree recomputed: verifies alone, not against the checkpoint', async () => {
      await fs.copyFile(path.join(dir, 'dke.db'), path.join(dir, 'rewritten.db'));
      const service = await open('rewritten.db');
      await rewriteAuditLog(service.store, 4);
      await service.close();
      await (await open('rewritten.db')).close(); // a write open rebuilds the tree from the rewritten records

      const alone = await cli(['audit', 'verify', '--db', 'rewritten.db']);
      assert.equal(alone.code, 0, `the rewritten chain verifies on its own: ${alone.stderr}`);
      assertCliError(await verify('rewritten.db', 'cp15.note', witnessFlags()), EXIT.AUDIT, [
        'inconsistent with checkpoint keys.example.test/opendke/audit size 15',
        'records were changed',
      ]);
      // Record 4 and on were rewritten, so a checkpoint of 3 records is still consistent.
      await fs.writeFile(path.join(dir, 'cp3.note'), await checkpointNoteOf('dke.db', 3));
      const early = await verify('rewritten.db', 'cp3.note');
      assert.equal(early.code, 0, early.stderr);
    });

    it('a chain break is named by its first bad record, before the checkpoint is reached', async () => {
      await fs.copyFile(path.join(dir, 'dke.db'), path.join(dir, 'broken.db'));
      const service = await open('broken.db');
      const db = service.store.unsafeDatabase();
      db.exec('DROP TRIGGER audit_log_no_update;');
      db.prepare("UPDATE audit_log SET subject = 'mallory' WHERE seq = 9").run();
      await service.close();
      assertCliError(await verify('broken.db', 'cp15.note'), EXIT.AUDIT, ['chain is broken at record 9']);
    });
  });

  async function checkpointNoteOf(db: string, size: number): Promise<string> {
    const service = await open(db);
    try {
      return await checkpointNote(service.audit, keys, { size });
    } finally {
      await service.close();
    }
  }
});

type TestKey = { signerKey: string; verifierKey: string };
