/** `openssl speed` as the reference for what the hardware can do: AES-256-GCM and RSA, one and all cores. */
import { log, MB, runOk, which } from './util.js';

export interface AesSpeed {
  readonly command: string;
  /** Decimal MB/s at 16384-byte blocks. */
  readonly mbPerSecond: number;
}

export interface RsaSpeed {
  readonly command: string;
  readonly bits: number;
  readonly signPerSecond: number;
  readonly verifyPerSecond: number | undefined;
}

function speedArgs(seconds: number, multi: number | undefined): string[] {
  return [...(multi === undefined ? [] : ['-multi', String(multi)]), '-seconds', String(seconds)];
}

/** The block sizes of `openssl speed -evp`, when the output names none. */
const DEFAULT_SIZES = ['16', '64', '256', '1024', '8192', '16384'];

/**
 * Parses the AES-256-GCM row of `openssl speed -evp aes-256-gcm` (its last one: with -multi, the total).
 * Values are in 1000s of bytes per second. The block sizes come from the "type 16 bytes ..." header, or with
 * -multi (no header) from the children's "+H:16:64:...:16384" lines.
 */
export function parseAesSpeed(output: string): number | undefined {
  const lines = output.split('\n');
  const header = lines.find((line) => /^type\s+16 bytes/.test(line));
  const multiHeader = lines.map((line) => /\+H:([\d:]+)/.exec(line)?.[1]).find((v) => v !== undefined);
  const sizes =
    header !== undefined
      ? [...header.matchAll(/(\d+) bytes/g)].map((m) => m[1])
      : (multiHeader?.split(':') ?? DEFAULT_SIZES);
  const column = sizes.indexOf('16384');
  const rows = lines.filter((line) => /^aes-256-gcm\s/i.test(line));
  const values = rows[rows.length - 1]?.trim().split(/\s+/).slice(1);
  if (column < 0 || values?.length !== sizes.length) return undefined;
  const match = /^([\d.]+)k$/.exec(values?.[column] ?? '');
  return match?.[1] === undefined ? undefined : (Number(match[1]) * 1000) / MB;
}

/**
 * Parses `openssl speed rsaNNNN` (its last row for that size): columns named by the header line, so both
 * OpenSSL 3.0 (sign verify sign/s verify/s) and 3.2+ (with encrypt/decrypt columns) work.
 */
export function parseRsaSpeed(
  output: string,
  bits: number,
): { sign: number; verify: number | undefined } | undefined {
  const lines = output.split('\n');
  const headerIndex = lines.findLastIndex((line) => /\bsign\/s\b/.test(line));
  if (headerIndex < 0) return undefined;
  const columns = (lines[headerIndex] as string).trim().split(/\s+/);
  const rows = lines.filter((line) => new RegExp(`^rsa\\s+${bits}\\s+bits\\s`).test(line));
  const values = rows[rows.length - 1]
    ?.replace(/^rsa\s+\d+\s+bits\s+/, '')
    .trim()
    .split(/\s+/);
  if (values === undefined || values.length !== columns.length) return undefined;
  const read = (name: string): number | undefined => {
    const index = columns.indexOf(name);
    const value = index < 0 ? NaN : Number(values[index]);
    return Number.isFinite(value) ? value : undefined;
  };
  const sign = read('sign/s');
  return sign === undefined ? undefined : { sign, verify: read('verify/s') };
}

export async function opensslAesGcm(seconds: number, multi?: number): Promise<AesSpeed | undefined> {
  if (which('openssl') === undefined) return undefined;
  const args = ['speed', ...speedArgs(seconds, multi), '-evp', 'aes-256-gcm'];
  const result = await runOk(
    { file: 'openssl', args },
    { timeoutMs: (seconds * 6 + 60) * 1000, captureStdout: true },
  );
  const mbPerSecond = parseAesSpeed(`${result.stdout}\n${result.stderr}`);
  if (mbPerSecond === undefined) {
    log(`warning: cannot parse the output of openssl ${args.join(' ')}; its row is left empty`);
    return undefined;
  }
  return { command: `openssl ${args.join(' ')}`, mbPerSecond };
}

export async function opensslRsa(
  bits: number,
  seconds: number,
  multi?: number,
): Promise<RsaSpeed | undefined> {
  if (which('openssl') === undefined) return undefined;
  const args = ['speed', ...speedArgs(seconds, multi), `rsa${bits}`];
  const result = await runOk(
    { file: 'openssl', args },
    { timeoutMs: (seconds * 4 + 60) * 1000, captureStdout: true },
  );
  const parsed = parseRsaSpeed(`${result.stdout}\n${result.stderr}`, bits);
  if (parsed === undefined) {
    log(`warning: cannot parse the output of openssl ${args.join(' ')}; its row is left empty`);
    return undefined;
  }
  return {
    command: `openssl ${args.join(' ')}`,
    bits,
    signPerSecond: parsed.sign,
    verifyPerSecond: parsed.verify,
  };
}
