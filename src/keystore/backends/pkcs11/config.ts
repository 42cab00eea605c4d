/**
 * Configuration of the PKCS#11 backend (docs/hsm.md, docs/config.md `keys.backends.pkcs11`). The PIN is
 * never part of the configuration text: it comes from a file or an environment variable, read again at
 * every (re)connection so a changed PIN is picked up without a restart.
 */
import fs from 'node:fs';
import { DkeError } from '../../../errors/index.js';

export interface Pkcs11Config {
  /** Path of the token's PKCS#11 module (shared library). */
  readonly module: string;
  /** The token's label (CK_TOKEN_INFO.label, without the padding). Slot ids change; labels do not. */
  readonly tokenLabel: string;
  /** File holding the user PIN (one line); exactly one of pinFile and pinEnv. */
  readonly pinFile?: string;
  /** Environment variable holding the user PIN. */
  readonly pinEnv?: string;
  /** Sessions in the pool: how many operations can be in flight in the token at once. Default 4. */
  readonly sessions?: number;
  /**
   * Module-specific C_Initialize parameters (pReserved). NSS's softoken needs its database here, e.g.
   * `configdir='sql:/var/lib/opendke/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' flags=`.
   */
  readonly libraryParameters?: string;
  /** How long an operation waits for a free session before failing with ERR_HSM_UNAVAILABLE. Default 10 s. */
  readonly acquireTimeoutMs?: number;
}

export const DEFAULT_SESSIONS = 4;
export const MAX_SESSIONS = 64;
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 10_000;

function invalid(message: string, hint?: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', { message, ...(hint === undefined ? {} : { hint }) });
}

/** Checks the shape (ERR_CONFIG_INVALID names the problem); does not touch the module or the PIN. */
export function validatePkcs11Config(config: Pkcs11Config): void {
  if (typeof config.module !== 'string' || config.module === '')
    throw invalid('pkcs11 module path is required');
  if (typeof config.tokenLabel !== 'string' || config.tokenLabel.trim() === '')
    throw invalid('pkcs11 tokenLabel is required');
  if (Buffer.byteLength(config.tokenLabel, 'utf8') > 32)
    throw invalid('pkcs11 tokenLabel is longer than a token label can be (32 bytes)');
  if ((config.pinFile === undefined) === (config.pinEnv === undefined)) {
    throw invalid(
      'pkcs11 needs exactly one of pinFile and pinEnv',
      'the PIN never goes in the configuration itself',
    );
  }
  const sessions = config.sessions ?? DEFAULT_SESSIONS;
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > MAX_SESSIONS)
    throw invalid(`pkcs11 sessions must be an integer from 1 to ${MAX_SESSIONS}`);
  const timeout = config.acquireTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || timeout < 1) throw invalid('pkcs11 acquireTimeoutMs must be >= 1');
}

/** The user PIN, from the file (one trailing newline dropped) or the environment variable. */
export function readPin(config: Pkcs11Config): string {
  let pin: string | undefined;
  if (config.pinFile !== undefined) {
    try {
      pin = fs.readFileSync(config.pinFile, 'utf8').replace(/\r?\n$/, '');
    } catch (cause) {
      throw new DkeError('ERR_CONFIG_INVALID', {
        message: 'cannot read the pkcs11 PIN file',
        detail: `${config.pinFile}: ${(cause as Error).message}`,
        cause,
      });
    }
  } else if (config.pinEnv !== undefined) {
    pin = process.env[config.pinEnv];
    if (pin === undefined) throw invalid(`the pkcs11 PIN variable ${config.pinEnv} is not set`);
  }
  if (pin === undefined || pin === '') throw invalid('the pkcs11 PIN is empty');
  return pin;
}
