/**
 * `npm start`: a guided walk through OpenDKE on the embedded defaults, printing every step.
 * Starts a DEVELOPMENT OIDC issuer (loopback only) and the key service on SQLite with a generated
 * master key, then runs the real `dke` CLI: a file under two holders (a provider key file and the
 * customer key in the key service), encrypt, inspect, decrypt, one holder alone refused, the customer
 * disables its key, decrypt refused, and the audit log shows who opened what and verifies.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { startDevIssuer } from '../devissuer/index.js';
import { loadConfig } from '../config/index.js';
import { startServer } from '../service/server.js';

const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const AUDIENCE = 'api://opendke-demo';
const USER = 'alice@example.test';

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

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(`walk-through step failed: ${what}`);
  process.stdout.write(`  \u2713 ${what}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'opendke-demo-'));
  say(`Working in ${dir}`);
  const secret = randomBytes(24).toString('base64url');
  const issuer = await startDevIssuer({
    defaultAudience: AUDIENCE,
    clients: [
      { clientId: 'alice-laptop', clientSecret: secret, claims: { sub: 'alice', preferred_username: USER } },
    ],
  });
  process.stdout.write(`DEVELOPMENT OIDC issuer (loopback only, not for production): ${issuer.issuer}\n`);
  writeFileSync(path.join(dir, 'client-secret.txt'), secret, { mode: 0o600 });
  writeFileSync(
    path.join(dir, 'dke.json'),
    JSON.stringify(
      {
        server: { host: '127.0.0.1', port: 0 },
        store: { database: path.join(dir, 'opendke.db'), masterKeyFile: path.join(dir, 'master.key') },
        auth: {
          audience: AUDIENCE,
          // Nothing is read from a claim the config does not name: the user name is in preferred_username.
          issuers: [
            { issuer: issuer.issuer, algorithms: [issuer.alg], userNameClaims: ['preferred_username'] },
          ],
        },
        logging: { level: 'warn' },
      },
      null,
      2,
    ),
  );
  const server = await startServer(loadConfig({ file: path.join(dir, 'dke.json'), env: {} }));
  process.stdout.write(`Customer key service (SQLite store, master key created 0600): ${server.url}\n`);
  try {
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
    say('Decrypt: the provider key file + an OIDC token for the customer key service');
    const opened = await dke(dir, [
      'decrypt',
      '-i',
      'provider.key',
      ...tokenArgs,
      '-o',
      'report.copy.txt',
      'report.txt.dke',
    ]);
    expect(
      opened.code === 0 &&
        readFileSync(path.join(dir, 'report.copy.txt')).equals(readFileSync(path.join(dir, 'report.txt'))),
      'decrypted copy equals the original',
    );

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

    say('After the incident: who opened this document, and was the log altered?');
    await dke(dir, ['audit', 'list', '--object', objectId, '-c', 'dke.json']);
    const verified = await dke(dir, ['audit', 'verify', '-c', 'dke.json']);
    expect(verified.code === 0, 'audit hash chain verifies');
    say(`Done. Everything is in ${dir}`);
  } finally {
    await server.close();
    await issuer.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`walk-through failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
