/**
 * The CLI's remote holder end to end: a real key service and a real OIDC issuer on loopback, files
 * encrypted to a local key and a key-service key, decrypted with client-credentials or bearer tokens.
 * Checks that the service audits the object id it unwrapped, that refusals leave no output, and that an
 * untrusted key service is never contacted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT } from '../../src/errors/index.js';
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

const CLIENT = {
  clientId: 'alice-laptop',
  clientSecret: 'correct-horse-battery',
  claims: { sub: 'alice', upn: 'alice@example.test' },
};
const INTRUDER = {
  clientId: 'mallory',
  clientSecret: 'mallory-secret',
  claims: { sub: 'mallory', upn: 'mallory@example.test' },
};

describe('remote holder through the dke CLI', () => {
  let harness: Harness;
  let dir: string;
  let provider: string;
  let keyUrl: string;
  const plaintext = patternBytes(200_000, 7);

  before(async () => {
    harness = await startHarness({ clients: [CLIENT, INTRUDER] });
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
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dke-remote-'));
    provider = await writeKeyFile(dir, 'provider.key', ecKeys('P-256', 1)[0] as never);
    await fs.writeFile(path.join(dir, 'plain.bin'), plaintext);
    keyUrl = `${harness.server.url}/keys/customer`;
    const encrypted = await runCli(
      ['encrypt', '-H', provider, '-H', keyUrl, '-o', 'object.dke', 'plain.bin'],
      { cwd: dir },
    );
    assert.equal(encrypted.code, 0, encrypted.stderr);
  });
  after(async () => {
    await harness.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const credentials = (client: typeof CLIENT): string[] => [
    '--key-service',
    `${harness.server.url}/keys`,
    '--oidc-issuer',
    harness.issuer.issuer,
    '--client-id',
    client.clientId,
    '--audience',
    TEST_AUDIENCE,
  ];

  async function objectId(): Promise<string> {
    const inspected = await runCli(['inspect', '--json', 'object.dke'], { cwd: dir });
    const report = JSON.parse(inspected.stdout.toString('utf8')) as {
      objectId: string;
      holders: { type: string; locator: string | null }[];
    };
    assert.deepEqual(
      report.holders.map((h) => [h.type, h.locator]),
      [
        ['local', null],
        ['remote', keyUrl],
      ],
    );
    return report.objectId;
  }

  async function unwrapRecords(object: string): Promise<{ result: string; userName?: string }[]> {
    const store = await harness.openStore();
    try {
      const records = await store.audit.query({ objectId: object });
      return records.filter((record) => record.action === 'native.unwrap');
    } finally {
      await store.close();
    }
  }

  it('decrypts with a client-credentials token and the service audits the object id', async () => {
    const object = await objectId();
    const result = await runCli(
      ['decrypt', '-i', provider, ...credentials(CLIENT), '-o', 'out.bin', 'object.dke'],
      {
        cwd: dir,
        env: { DKE_CLIENT_SECRET: CLIENT.clientSecret },
      },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await fs.readFile(path.join(dir, 'out.bin')), plaintext);
    const records = await unwrapRecords(object);
    assert.equal(records.length, 1);
    assert.equal(records[0]?.result, 'allowed');
    assert.equal(records[0]?.userName, 'alice@example.test');
  });

  it('decrypts with a bearer token from a file', async () => {
    await fs.writeFile(
      path.join(dir, 'token'),
      `${await harness.token({ sub: 'alice', upn: 'alice@example.test' })}\n`,
    );
    const result = await runCli(
      [
        'decrypt',
        '-i',
        provider,
        '--key-service',
        `${harness.server.url}/keys`,
        '--token-file',
        'token',
        '-o',
        'out2.bin',
        'object.dke',
      ],
      { cwd: dir },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await fs.readFile(path.join(dir, 'out2.bin')), plaintext);
  });

  it('never contacts a key service the user did not trust, and names the missing holder', async () => {
    const object = await objectId();
    const before = (await unwrapRecords(object)).length;
    await fs.writeFile(
      path.join(dir, 'token'),
      await harness.token({ sub: 'alice', upn: 'alice@example.test' }),
    );
    const result = await runCli(
      ['decrypt', '-i', provider, '--token-file', 'token', '-o', 'untrusted.bin', 'object.dke'],
      {
        cwd: dir,
      },
    );
    assertCliError(result, EXIT.KEY, [keyUrl]);
    assert.equal((await unwrapRecords(object)).length, before, 'no unwrap request reached the service');
    assert.equal(await exists(path.join(dir, 'untrusted.bin')), false);
  });

  it('a user outside the policy is refused (exit 8), audited as denied, and no output is left', async () => {
    const object = await objectId();
    const result = await runCli(
      ['decrypt', '-i', provider, ...credentials(INTRUDER), '-o', 'stolen.bin', 'object.dke'],
      {
        cwd: dir,
        env: { DKE_CLIENT_SECRET: INTRUDER.clientSecret },
      },
    );
    assertCliError(result, EXIT.DENIED, ['ERR_FORBIDDEN']);
    assert.equal(await exists(path.join(dir, 'stolen.bin')), false);
    assert.deepEqual(await leftoverTemporaries(dir), []);
    const denied = (await unwrapRecords(object)).filter((record) => record.result === 'denied');
    assert.equal(denied.at(-1)?.userName, 'mallory@example.test');
  });

  it('a wrong client secret is refused by the issuer before any key service call', async () => {
    const result = await runCli(
      ['decrypt', '-i', provider, ...credentials(CLIENT), '-o', 'x.bin', 'object.dke'],
      {
        cwd: dir,
        env: { DKE_CLIENT_SECRET: 'wrong' },
      },
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^dke: error: /);
    assert.equal(await exists(path.join(dir, 'x.bin')), false);
  });

  it('after the customer disables its key, decryption is refused (exit 8)', async () => {
    const store = await harness.openStore();
    try {
      await store.keys.disable('customer');
    } finally {
      await store.close();
    }
    try {
      const result = await runCli(
        ['decrypt', '-i', provider, ...credentials(CLIENT), '-o', 'late.bin', 'object.dke'],
        {
          cwd: dir,
          env: { DKE_CLIENT_SECRET: CLIENT.clientSecret },
        },
      );
      assertCliError(result, EXIT.DENIED, ['ERR_KEY_DISABLED']);
      assert.equal(await exists(path.join(dir, 'late.bin')), false);
      const encrypt = await runCli(['encrypt', '-H', provider, '-H', keyUrl, '-o', 'new.dke', 'plain.bin'], {
        cwd: dir,
      });
      assertCliError(encrypt, EXIT.DENIED);
    } finally {
      const reopened = await harness.openStore();
      await reopened.keys.enable('customer');
      await reopened.close();
    }
  });

  it('refuses plain-http key services that are not on loopback', async () => {
    const result = await runCli(
      ['encrypt', '-H', provider, '-H', 'http://keys.example.com/keys/customer', 'plain.bin'],
      {
        cwd: dir,
      },
    );
    assertCliError(result, EXIT.USAGE, ['https']);
  });
});
