/**
 * `dke decrypt --log-vkey / --require-receipt / --receipt-dir` (docs/audit.md, "Verifying receipts and
 * proofs offline"): the pinned log keys of the key services, and saving each verified receipt as
 * `<objectId>.<keyId>.tlog-proof` in a folder, atomically. Checked before any key service is contacted.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DkeError, isDkeError } from '../errors/index.js';
import { writeAll, writeFileAtomically } from '../fs/atomic-file.js';
import { ioError } from '../fs/io-error.js';
import type { AcceptedReceipt, ReceiptPolicy } from '../holders/receipt-policy.js';
import { noteVerifier, type NoteVerifier } from '../transparency/index.js';

export interface ReceiptOptions {
  readonly logVkey?: readonly string[];
  readonly requireReceipt?: boolean;
  readonly receiptDir?: string;
}

/**
 * Receipts name the caller (issuer, subject, user name, client address): audit data about a person, so
 * they are kept as private as the decrypted output (0600), not world-readable.
 */
export const RECEIPT_FILE_MODE = 0o600;
/** Object ids and key ids are base64url; anything else never becomes part of a file name. */
const FILE_NAME_PART = /^[A-Za-z0-9_-]{1,128}$/;

/** Parses vkeys, with the flag named in the error. */
export function parseLogVerifiers(vkeys: readonly string[], source: string): NoteVerifier[] {
  return vkeys.map((vkey) => {
    try {
      return noteVerifier(vkey);
    } catch (error) {
      if (!isDkeError(error, 'ERR_PROOF_INVALID')) throw error;
      throw new DkeError('ERR_USAGE', {
        message: `${source} is not a log verifier key: ${error.message}`,
        hint: 'a log vkey is <origin>+<8 hex>+<base64>, as `dke audit key` prints it',
      });
    }
  });
}

/** The pinned log keys: the --log-vkey flags, else DKE_LOG_VKEY (whitespace-separated). */
export function pinnedLogVerifiers(
  options: ReceiptOptions,
  env: NodeJS.ProcessEnv = process.env,
): NoteVerifier[] {
  if (options.logVkey !== undefined && options.logVkey.length > 0) {
    return parseLogVerifiers(options.logVkey, '--log-vkey');
  }
  const fromEnv = (env.DKE_LOG_VKEY ?? '').split(/\s+/).filter((v) => v !== '');
  return parseLogVerifiers(fromEnv, 'DKE_LOG_VKEY');
}

/** Saves a receipt atomically as <dir>/<objectId>.<keyId>.tlog-proof (replacing an older one). */
export async function saveReceipt(dir: string, receipt: AcceptedReceipt): Promise<string> {
  if (!FILE_NAME_PART.test(receipt.objectId) || !FILE_NAME_PART.test(receipt.keyId)) {
    throw new DkeError('ERR_IO', { message: 'cannot save the receipt: its key id is not a base64url name' });
  }
  const file = path.join(dir, `${receipt.objectId}.${receipt.keyId}.tlog-proof`);
  try {
    await writeFileAtomically(file, (handle) => writeAll(handle, Buffer.from(receipt.text, 'utf8')), {
      replace: true,
      mode: RECEIPT_FILE_MODE,
    });
  } catch (cause) {
    throw ioError(`cannot save the receipt ${file}`, cause);
  }
  return file;
}

/**
 * The receipt policy of `dke decrypt`, or undefined when no log key is pinned. Usage errors for
 * --require-receipt or --receipt-dir without a pinned key; ERR_IO when the folder is not one.
 */
export async function receiptPolicyFrom(
  options: ReceiptOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReceiptPolicy | undefined> {
  const logVerifiers = pinnedLogVerifiers(options, env);
  if (logVerifiers.length === 0) {
    for (const [flag, given] of [
      ['--require-receipt', options.requireReceipt === true],
      ['--receipt-dir', options.receiptDir !== undefined],
    ] as const) {
      if (given) {
        throw new DkeError('ERR_USAGE', {
          message: `${flag} needs the key service's log key: give --log-vkey (or DKE_LOG_VKEY)`,
          hint: 'the key service operator publishes it; `dke audit key` prints it',
        });
      }
    }
    return undefined;
  }
  const dir = options.receiptDir;
  if (dir !== undefined) {
    const stats = await fs.stat(dir).catch((cause: unknown) => {
      throw ioError(`cannot use the receipt folder ${dir}`, cause);
    });
    if (!stats.isDirectory()) {
      throw new DkeError('ERR_IO', { message: `cannot use the receipt folder ${dir}: not a directory` });
    }
  }
  return {
    logVerifiers,
    require: options.requireReceipt === true,
    ...(dir === undefined
      ? {}
      : {
          onAccepted: async (receipt: AcceptedReceipt) => {
            await saveReceipt(dir, receipt);
          },
        }),
  };
}
