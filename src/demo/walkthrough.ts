/**
 * `npm start`: a guided walk through OpenDKE on the embedded defaults, printing every step.
 * Starts a DEVELOPMENT OIDC issuer (loopback only), the customer's key service on SQLite with a generated
 * master key, and a second key service run by the provider as the WITNESS of the customer's audit log. Then
 * it runs the real `dke` CLI: a file under two holders (a provider key file and the customer key in the key
 * service), encrypt, inspect, decrypt with an audit receipt required and checked offline, one holder alone
 * refused, the customer disables its key, decrypt refused, the audit log verified against the checkpoint
 * the witness cosigned, and it ends with the incident report.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { startDevIssuer } from '../devissuer/index.js';
import { loadConfig } from '../config/index.js';
import { startServer, type RunningServer } from '../service/server.js';

const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const AUDIENCE = 'api://opendke-demo';
const USER = 'alice@example.test';
const CONSOLE_CLIENT = 'opendke-console';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function say(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

/** Runs `dke ...` in the work directory and prints the command and what it printed. */
function dke(dir: string, args: readonly string[], shown = args): Promise<Run> {
  process.stdout.write(`$ dke ${shown.join(' ')}\n`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { cwd: dir, env: { ...process.env, DKE_DEBUG: '' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        for (const line of `${stdout}${stderr}`.split('\n').filter((l) => l !== ''))
          process.stdout.write(`  ${line}\n`);
        if (code !== 0) process.stdout.write(`  (exit ${code})\n`);
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The customer's latest checkpoint once the witness's cosignature is on it (the submitter runs every second). */
async function cosignedCheckpoint(serviceUrl: string, witnessName: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await fetch(`${serviceUrl}/audit/checkpoint`);
    const text = await answer.text();
    if (answer.status === 200 && text.includes(`\u2014 ${witnessName} `)) return text;
    if (Date.now() > deadline) throw new Error('the witness did not cosign a checkpoint within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A free loopback port: the console's redirect URI names it before the service starts. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Keeps the services up for the console until Ctrl-C (only on a terminal; tests and pipes end at once). */
function untilInterrupted(): Promise<void> {
  if (process.stdout.isTTY !== true || process.env.DKE_DEMO_EXIT === '1') return Promise.resolve();
  process.stdout.write('\nThe key service keeps running for the console; press Ctrl-C to stop.\n');
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(`walk-through step failed: ${what}`);
  process.stdout.write(`  \u2713 ${what}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'opendke-demo-'));
  say(`Working in ${dir}`);
  const secret = randomBytes(24).toString('base64url');
  const consolePassword = randomBytes(9).toString('base64url');
  const port = await freePort();
  const consoleBase = `http://127.0.0.1:${port}`;
  const issuer = await startDevIssuer({
    defaultAudience: AUDIENCE,
    clients: [
      { clientId: 'alice-laptop', clientSecret: secret, claims: { sub: 'alice', preferred_username: USER } },
      // The console signs in with authorization code + PKCE: a public client, no secret.
      { clientId: CONSOLE_CLIENT, redirectUris: [`${consoleBase}/console/callback`] },
    ],
    users: [
      {
        username: 'admin',
        password: consolePassword,
        claims: { preferred_username: 'admin@example.test', roles: ['opendke-admin'] },
      },
      {
        username: 'auditor',
        password: consolePassword,
        claims: { preferred_username: 'auditor@example.test', roles: ['opendke-auditor'] },
      },
    ],
  });
  process.stdout.write(`DEVELOPMENT OIDC issuer (loopback only, not for production): ${issuer.issuer}\n`);
  writeFileSync(path.join(dir, 'client-secret.txt'), secret, { mode: 0o600 });
  const auth = {
    audience: AUDIENCE,
    // Nothing is read from a claim the config does not name: the user name is in preferred_username.
    issuers: [{ issuer: issuer.issuer, algorithms: [issuer.alg], userNameClaims: ['preferred_username'] }],
  };
  // The customer's service also serves the console (docs/console.md) on a fixed port, its public base URL.
  const consoleConfig = {
    enabled: true,
    issuer: issuer.issuer,
    clientId: CONSOLE_CLIENT,
    adminValues: ['opendke-admin'],
    auditorValues: ['opendke-auditor'],
  };
  const writeConfig = (
    file: string,
    name: string,
    audit: Record<string, unknown>,
    withConsole = false,
  ): string => {
    writeFileSync(
      path.join(dir, file),
      JSON.stringify(
        {
          server: withConsole
            ? { host: '127.0.0.1', port, publicBaseUrl: consoleBase }
            : { host: '127.0.0.1', port: 0 },
          ...(withConsole ? { console: consoleConfig } : {}),
          store: {
            database: path.join(dir, `${name}.db`),
            masterKeyFile: path.join(dir, `${name}.master.key`),
          },
          auth,
          audit,
          logging: { level: 'warn' },
        },
        null,
        2,
      ),
    );
    return path.join(dir, file);
  };
  const start = (file: string): Promise<RunningServer> => startServer(loadConfig({ file, env: {} }));
  const customerLog = { origin: 'customer.example/opendke/audit', checkpointIntervalSeconds: 1 };

  let server: RunningServer | undefined;
  let witness: RunningServer | undefined;
  try {
    say('The customer starts its key service; its audit log gets a signing key (the vkey others pin)');
    server = await start(writeConfig('dke.json', 'customer', { log: customerLog }, true));
    const logVkey = (await dke(dir, ['audit', 'key', '-c', 'dke.json'])).stdout.trim();

    say(
      "The provider runs a witness of the customer's log: it cosigns only checkpoints that extend the last one",
    );
    witness = await start(
      writeConfig('witness.json', 'provider-witness', {
        log: { origin: 'provider.example/opendke/audit' },
        witness: { name: 'provider.example/witness', logs: [{ origin: customerLog.origin, vkey: logVkey }] },
      }),
    );
    const witnessVkey = (await dke(dir, ['audit', 'witness-key', '-c', 'witness.json'])).stdout.trim();
    await server.close();
    server = await start(
      writeConfig(
        'dke.json',
        'customer',
        { log: { ...customerLog, witnesses: [{ url: `${witness.url}/witness`, vkey: witnessVkey }] } },
        true,
      ),
    );
    process.stdout.write(`Customer key service (SQLite store, master key created 0600): ${server.url}\n`);
    const consoleLogin =
      `Console: ${consoleBase}/console/  sign in as admin / ${consolePassword}` +
      ` (or auditor / ${consolePassword}) at the DEVELOPMENT issuer\n`;
    process.stdout.write(consoleLogin);
    expect((await fetch(`${consoleBase}/console/`)).status === 200, 'the console is served at /console/');
    say('The customer creates its key in the key service and allows one user');
    await dke(dir, ['key', 'create', 'customer', '-c', 'dke.json']);
    await dke(dir, ['key', 'policy', 'customer', '--users', USER, '-c', 'dke.json']);

    say('The provider holds its own key file');
    await dke(dir, ['keygen', '-o', 'provider.key']);

    say('Encrypt a file so that it needs BOTH holders');
    writeFileSync(
      path.join(dir, 'report.txt'),
      'Quarterly figures: only provider AND customer together can read this.\n',
    );
    const keyUrl = `${server.url}/keys/customer`;
    const encrypted = await dke(dir, [
      'encrypt',
      '-H',
      'provider.key',
      '-H',
      keyUrl,
      '-o',
      'report.txt.dke',
      'report.txt',
    ]);
    expect(encrypted.code === 0, 'encrypted under two holders');
    const inspected = await dke(dir, ['inspect', 'report.txt.dke', '--json']);
    const objectId = (JSON.parse(inspected.stdout) as { objectId: string }).objectId;

    const tokenArgs = [
      '--key-service',
      `${server.url}/keys`,
      '--oidc-issuer',
      issuer.issuer,
      '--client-id',
      'alice-laptop',
      '--client-secret-file',
      'client-secret.txt',
      '--audience',
      AUDIENCE,
    ];
    say('Decrypt: the provider key file + an OIDC token; the key service must prove it logged the release');
    mkdirSync(path.join(dir, 'receipts'), { mode: 0o700 });
    const opened = await dke(
      dir,
      [
        'decrypt',
        '-i',
        'provider.key',
        ...tokenArgs,
        '--log-vkey',
        logVkey,
        '--require-receipt',
        '--receipt-dir',
        'receipts',
        '-o',
        'report.copy.txt',
        'report.txt.dke',
      ],
      [
        'decrypt',
        '-i',
        'provider.key',
        '...token...',
        '--log-vkey',
        '"$LOG_VKEY"',
        '--require-receipt',
        '--receipt-dir',
        'receipts',
        '-o',
        'report.copy.txt',
        'report.txt.dke',
      ],
    );
    expect(
      opened.code === 0 &&
        readFileSync(path.join(dir, 'report.copy.txt')).equals(readFileSync(path.join(dir, 'report.txt'))),
      'decrypted copy equals the original',
    );
    const [receipt] = readdirSync(path.join(dir, 'receipts'));
    expect(receipt !== undefined, `audit receipt saved: receipts/${receipt ?? '?'}`);
    const receiptPath = path.join('receipts', receipt ?? '');
    const checked = await dke(
      dir,
      ['audit', 'check-proof', receiptPath, '--log-vkey', logVkey],
      ['audit', 'check-proof', receiptPath, '--log-vkey', '"$LOG_VKEY"'],
    );
    expect(checked.code === 0, 'the receipt verifies offline (no network, no database)');

    say('One holder alone learns nothing: the provider key without the customer');
    const alone = await dke(dir, ['decrypt', '-i', 'provider.key', '-o', 'alone.txt', 'report.txt.dke']);
    expect(
      alone.code !== 0 && !existsSync(path.join(dir, 'alone.txt')),
      'refused, naming the missing holder; no output file left behind',
    );

    say('The customer revokes access: disable its key');
    await dke(dir, ['key', 'disable', 'customer', '-c', 'dke.json']);
    const refused = await dke(dir, [
      'decrypt',
      '-i',
      'provider.key',
      ...tokenArgs,
      '-o',
      'again.txt',
      'report.txt.dke',
    ]);
    expect(
      refused.code !== 0 && !existsSync(path.join(dir, 'again.txt')),
      'decryption refused by the key service',
    );

    say("The witness cosigned the customer's latest checkpoint");
    const checkpoint = await cosignedCheckpoint(server.url, 'provider.example/witness');
    for (const line of checkpoint.trimEnd().split('\n')) process.stdout.write(`  ${line}\n`);
    writeFileSync(path.join(dir, 'cosigned.checkpoint'), checkpoint);
    expect(checkpoint.includes('\u2014 provider.example/witness '), 'checkpoint cosigned by the witness');

    say('After the incident: who opened this document, and was the log altered?');
    await dke(dir, ['audit', 'list', '--object', objectId, '-c', 'dke.json']);
    const verified = await dke(
      dir,
      [
        'audit',
        'verify',
        '-c',
        'dke.json',
        '--checkpoint',
        'cosigned.checkpoint',
        '--log-vkey',
        logVkey,
        '--witness-vkey',
        witnessVkey,
        '--quorum',
        '1',
      ],
      [
        'audit',
        'verify',
        '-c',
        'dke.json',
        '--checkpoint',
        'cosigned.checkpoint',
        '--log-vkey',
        '"$LOG_VKEY"',
        '--witness-vkey',
        '"$WITNESS_VKEY"',
        '--quorum',
        '1',
      ],
    );
    expect(verified.code === 0, 'audit log verifies against the checkpoint the witness cosigned');

    say('The incident report a security team hands an auditor');
    const report = await dke(dir, ['audit', 'report', '-c', 'dke.json']);
    expect(report.code === 0, 'incident report written, headed by the integrity statement');
    say(`Done. Everything is in ${dir}`);
    process.stdout.write(consoleLogin);
    await untilInterrupted();
  } finally {
    await server?.close();
    await witness?.close();
    await issuer.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`walk-through failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
