/**
 * `dke decrypt --log-vkey / --require-receipt / --receipt-dir` against real key services (`dke serve` in
 * process, real OIDC issuer, real HTTP). One service runs with `audit.log.receipts: false`: with
 * --require-receipt the share is refused, clearly, and no output is written. A loopback relay in front of it
 * adds a `receipt` member to the unwrap answer, built from the service's real store and its real record of
 * that request: valid, for another record, or signed by another key. A second service issues its own
 * receipts (the default): they verify against the vkey `dke audit key` prints, are saved, and
 * `dke audit check-proof` accepts the saved file offline.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EXIT } from '../../src/errors/index.js';
import { verifyReceipt } from '../../src/transparency/index.js';
import { startHarness, type Harness } from '../service/harness.js';
import { TEST_AUDIENCE } from '../support/issuer.js';
import {
  assertCliError,
  ecKeys,
  exists,
  leftoverTemporaries,
  patternBytes,
  runCli,
  writeKeyFile,
} from '../support/format-helpers.js';
import { buildReceipt, testLogKeys, type TestLogKeys } from '../support/receipts.js';

type Rewrite = (
  answer: Record<string, unknown>,
  requestId: string,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** A loopback HTTP relay to `target` that lets a test rewrite 200 unwrap answers. */
async function startRelay(
  target: string,
): Promise<{ url: string; rewrite: Rewrite; close(): Promise<void> }> {
  const relay = {
    url: '',
    rewrite: ((answer) => answer) as Rewrite,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'content-type', 'accept']) {
          const value = request.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const body = chunks.length === 0 ? undefined : Buffer.concat(chunks);
        const upstream = await fetch(target + (request.url ?? '/'), {
          method: request.method ?? 'GET',
          headers,
          ...(body === undefined ? {} : { body }),
        });
        let text = await upstream.text();
        const requestId = upstream.headers.get('x-request-id') ?? '';
        if (upstream.status === 200 && (request.url ?? '').endsWith('/unwrap')) {
          text = JSON.stringify(await relay.rewrite(JSON.parse(text) as Record<string, unknown>, requestId));
        }
        response.writeHead(upstream.status, {
          'content-type': upstream.headers.get('content-type') ?? 'application/json',
          'x-request-id': requestId,
        });
        response.end(text);
      })().catch(() => {
        response.writeHead(502);
        response.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return relay;
}

const CLIENT = {
  clientId: 'alice-laptop',
  clientSecret: 'correct-horse-battery',
  claims: { sub: 'alice', upn: 'alice@example.test' },
};

describe('dke decrypt with audit receipts', () => {
  let harness: Harness;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let dir: string;
  let provider: string;
  const keys: TestLogKeys = testLogKeys(0);
  const plaintext = patternBytes(70_000, 3);
  /** The request id of a first, receipt-less unwrap through the relay: a real record of another request. */
  let firstRequestId = '';

  before(async () => {
    harness = await startHarness({ clients: [CLIENT], audit: { log: { receipts: false } } });
    const store = await harness.openStore();
    try {
      await store.keys.create('customer', { protocol: 'native' });
      await store.keys.setPolicy('customer', {
        users: ['alice@example.test'],
        groups: [],
        roles: [],
        tenants: [],
      });
    } finally {
      await store.close();
    }
    relay = await startRelay(harness.server.url);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-receipts-'));
    provider = await writeKeyFile(dir, 'provider.key', ecKeys('P-256', 1)[0] as never);
    await fs.writeFile(path.join(dir, 'plain.bin'), plaintext);
    for (const [file, base] of [
      ['direct.dke', harness.server.url],
      ['relayed.dke', relay.url],
    ] as const) {
      const encrypted = await runCli(
        ['encrypt', '-H', provider, '-H', `${base}/keys/customer`, '-o', file, 'plain.bin'],
        { cwd: dir },
      );
      assert.equal(encrypted.code, 0, encrypted.stderr);
    }
    relay.rewrite = (answer, requestId) => {
      firstRequestId = requestId;
      return answer;
    };
    const first = await runCli(['decrypt', ...credentials(relay.url), '-o', 'first.bin', 'relayed.dke'], {
      cwd: dir,
      env,
    });
    assert.equal(first.code, 0, first.stderr);
    assert.notEqual(firstRequestId, '');
  });
  after(async () => {
    await relay.close();
    await harness.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const credentials = (base: string): string[] => [
    '-i',
    provider,
    '--key-service',
    `${base}/keys`,
    '--oidc-issuer',
    harness.issuer.issuer,
    '--client-id',
    CLIENT.clientId,
    '--audience',
    TEST_AUDIENCE,
  ];
  const env = { DKE_CLIENT_SECRET: CLIENT.clientSecret };

  async function unwrapCount(): Promise<number> {
    const store = await harness.openStore();
    try {
      const records = await store.audit.query({ limit: 10_000 });
      return records.filter((r) => r.action === 'native.unwrap').length;
    } finally {
      await store.close();
    }
  }

  /** The real receipt of the service's record for `requestId`, signed by the test log key. */
  async function receiptFor(requestId: string, signWith: TestLogKeys = keys): Promise<string> {
    const service = await harness.openStore();
    try {
      const [record] = await service.audit.findByRequestId(requestId);
      assert.ok(record, `the service recorded request ${requestId}`);
      return await buildReceipt(service.store, service.audit, signWith, record.seq);
    } finally {
      await service.close();
    }
  }

  it('--require-receipt against a service that gives no receipt fails clearly, with no output', async () => {
    const result = await runCli(
      [
        'decrypt',
        ...credentials(harness.server.url),
        '--log-vkey',
        keys.log.verifierKey,
        '--require-receipt',
        '-o',
        'out.bin',
        'direct.dke',
      ],
      { cwd: dir, env },
    );
    assertCliError(result, EXIT.AUDIT, ['sent no audit receipt', `${harness.server.url}/keys/customer`]);
    assert.equal(result.stdout.length, 0);
    assert.equal(await exists(path.join(dir, 'out.bin')), false);
    assert.deepEqual(await leftoverTemporaries(dir), []);
  });

  it('--require-receipt to standard output writes nothing either', async () => {
    const result = await runCli(
      ['decrypt', ...credentials(harness.server.url), '--require-receipt', 'direct.dke'],
      { cwd: dir, env: { ...env, DKE_LOG_VKEY: keys.log.verifierKey } },
    );
    assertCliError(result, EXIT.AUDIT, ['sent no audit receipt']);
    assert.equal(result.stdout.length, 0, 'not one plaintext byte');
  });

  it('a pinned key without --require-receipt accepts a service without receipts', async () => {
    const result = await runCli(
      [
        'decrypt',
        ...credentials(harness.server.url),
        '--log-vkey',
        keys.log.verifierKey,
        '-o',
        'ok.bin',
        'direct.dke',
      ],
      { cwd: dir, env },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await fs.readFile(path.join(dir, 'ok.bin')), plaintext);
  });

  it('--require-receipt or --receipt-dir without a log key is a usage error, before any service call', async () => {
    const before = await unwrapCount();
    for (const flags of [['--require-receipt'], ['--receipt-dir', '.']]) {
      const result = await runCli(
        ['decrypt', ...credentials(harness.server.url), ...flags, '-o', 'u.bin', 'direct.dke'],
        {
          cwd: dir,
          env,
        },
      );
      assertCliError(result, EXIT.USAGE, [flags[0] as string, '--log-vkey']);
      assert.equal(await exists(path.join(dir, 'u.bin')), false);
    }
    const bad = await runCli(
      ['decrypt', ...credentials(harness.server.url), '--log-vkey', 'nonsense', '-o', 'u.bin', 'direct.dke'],
      { cwd: dir, env },
    );
    assertCliError(bad, EXIT.USAGE, ['--log-vkey is not a log verifier key']);
    const missingDir = await runCli(
      [
        'decrypt',
        ...credentials(harness.server.url),
        '--log-vkey',
        keys.log.verifierKey,
        '--receipt-dir',
        'nowhere',
        'direct.dke',
      ],
      { cwd: dir, env },
    );
    assertCliError(missingDir, EXIT.IO, ['nowhere']);
    assert.equal(await unwrapCount(), before, 'no key service was contacted');
  });

  it('a valid receipt verifies and is saved, 0600, as <objectId>.<keyId>.tlog-proof', async () => {
    relay.rewrite = async (answer, requestId) => ({ ...answer, receipt: await receiptFor(requestId) });
    await fs.mkdir(path.join(dir, 'receipts'));
    const result = await runCli(
      [
        'decrypt',
        ...credentials(relay.url),
        '--log-vkey',
        keys.log.verifierKey,
        '--require-receipt',
        '--receipt-dir',
        'receipts',
        '-o',
        'relayed.bin',
        'relayed.dke',
      ],
      { cwd: dir, env },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await fs.readFile(path.join(dir, 'relayed.bin')), plaintext);
    const saved = await fs.readdir(path.join(dir, 'receipts'));
    assert.equal(saved.length, 1);
    const inspected = JSON.parse(
      (await runCli(['inspect', '--json', 'relayed.dke'], { cwd: dir })).stdout.toString('utf8'),
    ) as { objectId: string; holders: { keyId: string; type: string }[] };
    const kid = inspected.holders.find((h) => h.type === 'remote')?.keyId as string;
    assert.equal(saved[0], `${inspected.objectId}.${kid}.tlog-proof`);
    const file = path.join(dir, 'receipts', saved[0]);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const { record } = verifyReceipt(await fs.readFile(file), {
      logVerifierKey: keys.log.verifierKey,
      expect: { action: 'native.unwrap', result: 'allowed', objectId: inspected.objectId, keyId: kid },
    });
    assert.equal(record.userName, 'alice@example.test');
  });

  it('a receipt that is present but wrong refuses the share (exit 10), even without --require-receipt', async () => {
    const other = testLogKeys(0);
    const cases: [string, Rewrite, string][] = [
      [
        'signed by another log key',
        async (a, id) => ({ ...a, receipt: await receiptFor(id, other) }),
        'no signature',
      ],
      // A real, valid receipt, but of another record (the first unwrap of this test file).
      [
        'for another record',
        async (a) => ({ ...a, receipt: await receiptFor(firstRequestId) }),
        'than expected',
      ],
      ['not text', (a) => ({ ...a, receipt: 42 }), 'not text'],
      ['garbage', (a) => ({ ...a, receipt: 'c2sp.org/tlog-proof@v1\nindex 0\n\nx\n' }), 'does not verify'],
    ];
    for (const [what, rewrite, mention] of cases) {
      relay.rewrite = rewrite;
      const result = await runCli(
        [
          'decrypt',
          ...credentials(relay.url),
          '--log-vkey',
          keys.log.verifierKey,
          '-o',
          'bad.bin',
          'relayed.dke',
        ],
        { cwd: dir, env },
      );
      assertCliError(result, EXIT.AUDIT, ['audit receipt that does not verify', mention]);
      assert.equal(await exists(path.join(dir, 'bad.bin')), false, what);
      assert.deepEqual(await leftoverTemporaries(dir), [], what);
    }
  });
});

describe('dke decrypt with receipts from the key service itself', () => {
  let harness: Harness;
  let dir: string;
  let provider: string;
  const plaintext = patternBytes(10_000, 5);

  before(async () => {
    harness = await startHarness({ clients: [CLIENT] });
    const store = await harness.openStore();
    try {
      await store.keys.create('customer', { protocol: 'native' });
      await store.keys.setPolicy('customer', {
        users: ['alice@example.test'],
        groups: [],
        roles: [],
        tenants: [],
      });
    } finally {
      await store.close();
    }
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-receipts-real-'));
    provider = await writeKeyFile(dir, 'provider.key', ecKeys('P-256', 1)[0] as never);
    await fs.writeFile(path.join(dir, 'plain.bin'), plaintext);
    const encrypted = await runCli(
      ['encrypt', '-H', provider, '-H', `${harness.server.url}/keys/customer`, '-o', 'f.dke', 'plain.bin'],
      { cwd: dir },
    );
    assert.equal(encrypted.code, 0, encrypted.stderr);
  });
  after(async () => {
    await harness.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('--require-receipt succeeds with the vkey of `dke audit key`; the saved receipt checks offline', async () => {
    const key = await runCli(['audit', 'key', '-c', harness.configFile], { cwd: dir });
    assert.equal(key.code, 0, key.stderr.toString());
    const vkey = key.stdout.toString('utf8').trim();
    await fs.mkdir(path.join(dir, 'receipts'));
    const result = await runCli(
      [
        'decrypt',
        '-i',
        provider,
        '--key-service',
        `${harness.server.url}/keys`,
        '--oidc-issuer',
        harness.issuer.issuer,
        '--client-id',
        CLIENT.clientId,
        '--audience',
        TEST_AUDIENCE,
        '--log-vkey',
        vkey,
        '--require-receipt',
        '--receipt-dir',
        'receipts',
        '-o',
        'out.bin',
        'f.dke',
      ],
      { cwd: dir, env: { DKE_CLIENT_SECRET: CLIENT.clientSecret } },
    );
    assert.equal(result.code, 0, result.stderr.toString());
    assert.deepEqual(await fs.readFile(path.join(dir, 'out.bin')), plaintext);
    const [saved] = await fs.readdir(path.join(dir, 'receipts'));
    assert.ok(saved !== undefined, 'the receipt was saved');
    const checked = await runCli(
      ['audit', 'check-proof', path.join('receipts', saved), '--log-vkey', vkey, '--json'],
      { cwd: dir },
    );
    assert.equal(checked.code, 0, checked.stderr.toString());
    assert.match(checked.stdout.toString('utf8'), /native\.unwrap/);
    // The same saved receipt under another log key is refused offline.
    const other = testLogKeys(0);
    const refused = await runCli(
      ['audit', 'check-proof', path.join('receipts', saved), '--log-vkey', other.log.verifierKey],
      { cwd: dir },
    );
    assert.equal(refused.code, EXIT.AUDIT);
  });
});
