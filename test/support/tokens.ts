/**
 * Real software PKCS#11 tokens for tests, each in a temporary directory of its own that `remove()` deletes:
 * NSS's softoken (a key database made with certutil, protected by a password = the PIN) and SoftHSM2
 * (a token made with softhsm2-util). scripts/ensure-tokens.sh installs both from Debian's packages.
 *
 * Without them a token test skips, saying why; under CI=true it runs and fails instead, so CI cannot
 * go green without having tested against the tokens.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pkcs11Config } from '../../src/keystore/backends/index.js';

export type TokenKind = 'nss' | 'softhsm';

export interface TestToken {
  readonly kind: TokenKind;
  readonly label: string;
  readonly pin: string;
  /** A configuration with the PIN in a file of the token's directory. */
  readonly config: Pkcs11Config;
  readonly dir: string;
  /** SoftHSM2 only: the directory holding the token's files (move it away to "remove the device"). */
  readonly tokenDir?: string;
  remove(): void;
}

const LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/usr/lib/softhsm',
  '/usr/lib/x86_64-linux-gnu/softhsm',
  '/usr/lib/aarch64-linux-gnu/softhsm',
];

function findLibrary(name: string): string | undefined {
  return LIB_DIRS.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file));
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && fs.existsSync(path.join(dir, command)));
}

export const NSS_MODULE = findLibrary('libsoftokn3.so');
export const SOFTHSM_MODULE = findLibrary('libsofthsm2.so');

/** Why tokens of `kind` cannot be made here, or undefined when they can. */
export function missingToken(kind: TokenKind): string | undefined {
  if (kind === 'nss') {
    if (NSS_MODULE === undefined) return 'NSS softoken (libsoftokn3.so, Debian libnss3) is not installed';
    if (!onPath('certutil')) return 'certutil (Debian libnss3-tools) is not installed';
  } else {
    if (SOFTHSM_MODULE === undefined) return 'SoftHSM2 (libsofthsm2.so, Debian softhsm2) is not installed';
    if (!onPath('softhsm2-util')) return 'softhsm2-util (Debian softhsm2) is not installed';
  }
  return undefined;
}

/**
 * The `skip` option for a token suite: the reason when the token is missing, except under CI=true,
 * where the suite runs (and fails on the missing token). Run scripts/ensure-tokens.sh to install them.
 */
export function skipWithoutToken(kind: TokenKind): string | false {
  const missing = missingToken(kind);
  if (missing === undefined || process.env.CI === 'true') return false;
  return `${missing}: run scripts/ensure-tokens.sh (as root) to test against it`;
}

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function requireModule(kind: TokenKind, module: string | undefined): string {
  const missing = missingToken(kind);
  if (missing !== undefined || module === undefined)
    throw new Error(`cannot make a ${kind} token: ${missing}`);
  return module;
}

/** An NSS softoken key database; the token's label comes from NSS's init parameters. */
export function createNssToken(label = 'opendke nss test', options: { sessions?: number } = {}): TestToken {
  const module = requireModule('nss', NSS_MODULE);
  const dir = tempDir('opendke-nss-');
  const pin = 'nss-test-pin-1';
  const pinFile = path.join(dir, 'pin.txt');
  fs.writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  const db = path.join(dir, 'db');
  fs.mkdirSync(db);
  execFileSync('certutil', ['-N', '-d', `sql:${db}`, '-f', pinFile], { stdio: 'pipe' });
  return {
    kind: 'nss',
    label,
    pin,
    dir,
    config: {
      module,
      tokenLabel: label,
      pinFile,
      sessions: options.sessions ?? 4,
      libraryParameters: `configdir='sql:${db}' certPrefix='' keyPrefix='' secmod='secmod.db' flags='' dbTokenDescription='${label}'`,
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A SoftHSM2 token. SoftHSM2 finds its tokens through SOFTHSM2_CONF, read at C_Initialize, so this sets
 * it for the whole process: one SoftHSM2 token per test file.
 */
export function createSoftHsmToken(
  label = 'opendke softhsm test',
  options: { sessions?: number } = {},
): TestToken {
  const module = requireModule('softhsm', SOFTHSM_MODULE);
  const dir = tempDir('opendke-softhsm-');
  const tokenDir = path.join(dir, 'tokens');
  fs.mkdirSync(tokenDir);
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(
    conf,
    `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  const pin = 'softhsm-pin-1';
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', 'softhsm-so-pin-1'],
    { stdio: 'pipe', env: { ...process.env, SOFTHSM2_CONF: conf } },
  );
  const pinEnv = 'OPENDKE_TEST_SOFTHSM_PIN';
  process.env[pinEnv] = pin;
  return {
    kind: 'softhsm',
    label,
    pin,
    dir,
    tokenDir,
    config: { module, tokenLabel: label, pinEnv, sessions: options.sessions ?? 4 },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export function createToken(kind: TokenKind, label?: string, options: { sessions?: number } = {}): TestToken {
  return kind === 'nss' ? createNssToken(label, options) : createSoftHsmToken(label, options);
}
