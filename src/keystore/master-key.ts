/**
 * The master key that seals private keys at rest (docs/keys.md "Master key"). 32 random bytes, base64,
 * from DKE_MASTER_KEY or a file; the embedded default creates the file (mode 0600) on first start.
 * Sealing is AES-256-GCM under a key derived with HKDF, with a random 96-bit nonce and caller-supplied
 * associated data, so a sealed value only opens in the place it was sealed for.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DkeError } from '../errors/index.js';

export const MASTER_KEY_ENV = 'DKE_MASTER_KEY';
export const MASTER_KEY_BYTES = 32;

/** Sealed value layout: format byte, nonce, ciphertext, GCM tag. */
const SEAL_FORMAT = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CHECK_AAD = 'opendke/master-key-check/v1';
const CHECK_PLAINTEXT = Buffer.from('opendke master key check', 'utf8');

export class MasterKey {
  private readonly sealingKey: Buffer;
  /** The console's session-sealing key (src/console/session.ts): every instance with this master key shares it. */
  readonly consoleSessionKey: Buffer;
  /** Short, non-secret fingerprint for logs and error details (which master key is this?). */
  readonly fingerprint: string;

  private constructor(bytes: Buffer) {
    // Derived keys keep the raw master key out of every cipher call and leave room for other uses.
    this.sealingKey = hkdf(bytes, 'opendke/keystore/aes-256-gcm/v1');
    this.consoleSessionKey = hkdf(bytes, 'opendke/console-session/a256gcm/v1');
    this.fingerprint = hkdf(bytes, 'opendke/master-key-fingerprint/v1').subarray(0, 8).toString('hex');
  }

  static fromBytes(bytes: Uint8Array): MasterKey {
    if (bytes.length !== MASTER_KEY_BYTES) {
      throw new DkeError('ERR_MASTER_KEY', { message: `the master key must be ${MASTER_KEY_BYTES} bytes` });
    }
    return new MasterKey(Buffer.from(bytes));
  }

  /** Parses base64 (standard or url alphabet, padding optional) of exactly 32 bytes. */
  static fromBase64(text: string, origin: string): MasterKey {
    const trimmed = text.trim();
    const bytes = decodeStrictBase64(trimmed);
    if (bytes?.length !== MASTER_KEY_BYTES) {
      throw new DkeError('ERR_MASTER_KEY', {
        message: `the master key in ${origin} is not ${MASTER_KEY_BYTES} bytes of base64`,
        hint: 'generate one with: openssl rand -base64 32',
      });
    }
    return new MasterKey(bytes);
  }

  static generate(): MasterKey {
    return new MasterKey(crypto.randomBytes(MASTER_KEY_BYTES));
  }

  seal(plaintext: Uint8Array, associatedData: string): Buffer {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.sealingKey, nonce);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(SEAL_FORMAT), nonce, body, cipher.getAuthTag()]);
  }

  /** The plaintext, or undefined when the value does not authenticate (wrong key, data or context). */
  open(sealed: Uint8Array, associatedData: string): Buffer | undefined {
    if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== SEAL_FORMAT) return undefined;
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.sealingKey, nonce, {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      return undefined;
    }
  }

  /** A value stored once per store, so a wrong master key is refused at open, before any key is used. */
  checkValue(): string {
    return this.seal(CHECK_PLAINTEXT, CHECK_AAD).toString('base64');
  }

  matchesCheckValue(checkValue: string): boolean {
    return this.open(Buffer.from(checkValue, 'base64'), CHECK_AAD)?.equals(CHECK_PLAINTEXT) ?? false;
  }
}

export interface MasterKeySourceOptions {
  /** Where DKE_MASTER_KEY is read; default process.env. It wins over the file when set. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A file holding the base64 master key. */
  readonly file?: string;
  /** Create `file` with a fresh random key if it does not exist (the embedded default). */
  readonly createIfMissing?: boolean;
  /**
   * Accept a key file that group or others may read, reporting `insecurePermissions` (to log a warning)
   * instead of refusing it.
   */
  readonly allowInsecurePermissions?: boolean;
}

export interface LoadedMasterKey {
  readonly masterKey: MasterKey;
  readonly source: 'env' | 'file' | 'created';
  readonly file?: string;
  /** True when the file is readable by group or others (only with allowInsecurePermissions). */
  readonly insecurePermissions: boolean;
}

/** Finds the master key: DKE_MASTER_KEY, else the file (created when allowed). Throws ERR_MASTER_KEY. */
export function loadMasterKey(options: MasterKeySourceOptions): LoadedMasterKey {
  const fromEnv = (options.env ?? process.env)[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return {
      masterKey: MasterKey.fromBase64(fromEnv, MASTER_KEY_ENV),
      source: 'env',
      insecurePermissions: false,
    };
  }
  if (options.file === undefined) {
    throw new DkeError('ERR_MASTER_KEY', {
      message: 'no master key configured',
      hint: `set ${MASTER_KEY_ENV} or store.masterKeyFile`,
    });
  }
  const file = path.resolve(options.file);
  if (options.createIfMissing === true && createKeyFile(file)) {
    return { masterKey: readKeyFile(file), source: 'created', file, insecurePermissions: false };
  }
  const insecurePermissions = isReadableByOthers(file);
  if (insecurePermissions && options.allowInsecurePermissions !== true) {
    throw new DkeError('ERR_MASTER_KEY', {
      message: 'the master key file is readable by other users',
      detail: file,
      hint: `chmod 600 ${file}`,
    });
  }
  return { masterKey: readKeyFile(file), source: 'file', file, insecurePermissions };
}

function readKeyFile(file: string): MasterKey {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new DkeError('ERR_MASTER_KEY', {
      message: 'the master key file cannot be read',
      detail: `${file}: ${(cause as Error).message}`,
      cause,
    });
  }
  return MasterKey.fromBase64(text, 'the master key file');
}

/**
 * Writes a new random key to `file` unless it exists; true when this call created it. The key is written
 * to a private temporary file, synced, then hard-linked into place, so two processes starting at once
 * agree on one key and nobody ever reads a half-written file. The directory is synced too: losing the
 * master key after keys were sealed under it would lose every key.
 */
function createKeyFile(file: string): boolean {
  if (fs.existsSync(file)) return false;
  const dir = path.dirname(file);
  const temp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`,
  );
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = fs.openSync(temp, 'wx', 0o600);
    try {
      fs.writeSync(fd, `${crypto.randomBytes(MASTER_KEY_BYTES).toString('base64')}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    syncDirectory(dir);
    return true;
  } catch (cause) {
    throw new DkeError('ERR_MASTER_KEY', {
      message: 'the master key file cannot be created',
      detail: `${file}: ${(cause as Error).message}`,
      cause,
    });
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isReadableByOthers(file: string): boolean {
  if (process.platform === 'win32') return false;
  try {
    return (fs.statSync(file).mode & 0o077) !== 0;
  } catch {
    return false; // readKeyFile reports the missing file
  }
}

function hkdf(key: Buffer, info: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
}

function decodeStrictBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Buffer.from(unpadded, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === unpadded ? bytes : undefined;
}
