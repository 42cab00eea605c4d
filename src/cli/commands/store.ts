/**
 * `dke store copy`: moves a key service's whole state from one store to another, empty one (SQLite to
 * PostgreSQL, typically), and verifies the copy before saying so (src/store/copy.ts, docs/storage.md
 * "Copying a store"). Needs no master key: sealed material is copied verbatim.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DkeError, isDkeError } from '../../errors/index.js';
import { loadConfig } from '../../config/index.js';
import { copyStore, type StoreCopyProgress, type StoreCopyReport } from '../../store/copy.js';
import {
  isPostgresUrl,
  openStore,
  redactPostgresUrl,
  type DkeStore,
  type OpenStoreOptions,
} from '../../store/index.js';
import { info } from '../output.js';

interface CopyOptions {
  readonly from: string;
  readonly to: string;
  readonly config?: string;
  readonly json?: boolean;
}

/** Below this many records a copy is quick: no progress lines. */
const PROGRESS_MIN_RECORDS = 10_000;
/** A progress line at least this often on a large log, besides every tenth. */
const PROGRESS_EVERY_MS = 5_000;

/** Where a store is, for people: a file's absolute path, a URL without its password. */
function describeLocation(location: string): string {
  return isPostgresUrl(location) ? redactPostgresUrl(location) : path.resolve(location);
}

function sameLocation(a: string, b: string): boolean {
  return isPostgresUrl(a) || isPostgresUrl(b) ? a === b : path.resolve(a) === path.resolve(b);
}

/** Progress lines on stderr: each tenth of the log, and every few seconds, for large logs only. */
function progressPrinter(): (progress: StoreCopyProgress) => void {
  let lastPhase = '';
  let lastTenth = 0;
  let lastAt = performance.now();
  return ({ phase, records, total }) => {
    if (total < PROGRESS_MIN_RECORDS) return;
    if (phase !== lastPhase) {
      lastPhase = phase;
      lastTenth = 0;
    }
    const tenth = Math.floor((records * 10) / total);
    const now = performance.now();
    if (tenth === lastTenth && now - lastAt < PROGRESS_EVERY_MS) return;
    lastTenth = tenth;
    lastAt = now;
    const verb = phase === 'copy' ? 'copied' : 'verified';
    info(`dke: ${verb} ${records}/${total} audit records (${Math.floor((records * 100) / total)}%)`);
  };
}

function summary(report: StoreCopyReport, from: string, to: string): string {
  const tail =
    report.auditTail === undefined ? 'empty' : `last record ${report.auditTail.seq}:${report.auditTail.hash}`;
  return [
    `from:            ${from}`,
    `to:              ${to}`,
    `keys:            ${report.keys} (${report.keyVersions} versions, ${report.revokedObjects} revoked objects)`,
    `audit records:   ${report.auditRecords} (${tail})`,
    `root hash:       ${report.rootHash}`,
    `checkpoints:     ${report.checkpoints} (${report.cosignatures} witness cosignatures)`,
    `witnessed logs:  ${report.witnessedLogs}`,
    `security events: ${report.securityEvents}`,
    `metadata:        ${report.meta}`,
    'verified:        the copy reads back equal to the source; its audit chain and Merkle root were recomputed',
    '',
  ].join('\n');
}

/** Opens one side, naming it in the error: with two stores, "could not open the key store" is not enough. */
async function openSide(
  role: 'source' | 'target',
  location: string,
  options: OpenStoreOptions,
): Promise<DkeStore> {
  try {
    return await openStore(location, options);
  } catch (error) {
    if (!isDkeError(error)) throw error;
    throw new DkeError(error.code, {
      message: `the ${role} store ${describeLocation(location)}: ${error.message}`,
      ...(error.detail === undefined ? {} : { detail: error.detail }),
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      cause: error,
    });
  }
}

async function copy(options: CopyOptions): Promise<void> {
  if (sameLocation(options.from, options.to)) {
    throw new DkeError('ERR_USAGE', { message: '--from and --to name the same store' });
  }
  // Only the file's PostgreSQL options: its store.database is neither source nor target.
  const opening: OpenStoreOptions =
    options.config === undefined ? {} : { postgres: loadConfig({ file: options.config }).store.postgres };
  if (!isPostgresUrl(options.from) && !fs.existsSync(options.from)) {
    // Checked here, not left to SQLite: a mistyped source must never become a new, empty store.
    throw new DkeError('ERR_IO', {
      message: `the source store ${path.resolve(options.from)} does not exist`,
      hint: 'give the key service store.database: an existing SQLite file, or a postgres:// URL',
    });
  }
  const from = describeLocation(options.from);
  const to = describeLocation(options.to);
  const source = await openSide('source', options.from, { ...opening, readonly: true });
  let target: DkeStore | undefined;
  try {
    target = await openSide('target', options.to, opening);
    const report = await copyStore(source, target, { onProgress: progressPrinter() });
    process.stdout.write(
      options.json === true
        ? `${JSON.stringify({ from, to, ...report, verified: true })}\n`
        : summary(report, from, to),
    );
  } finally {
    await source.close();
    await target?.close();
  }
}

export function registerStore(program: Command): void {
  const store = program.command('store').description("move the key service's store (keys, audit log, ...)");
  store
    .command('copy')
    .description('copy a whole store into a new, empty one (e.g. SQLite to PostgreSQL) and verify the copy')
    .requiredOption(
      '--from <file|url>',
      'the store to copy: a SQLite file or a postgres:// URL (opened read-only)',
    )
    .requiredOption('--to <file|url>', 'the empty store to copy into: a new SQLite file or a postgres:// URL')
    .option(
      '-c, --config <file>',
      "the key service config file: its store section's PostgreSQL options (password file or variable, TLS) apply to each postgres:// URL",
    )
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Copies the keys (every version, destroyed ones included, sealed material verbatim), policies, revoked',
        'objects, the whole audit log (streamed; the target builds its Merkle tree itself), signed checkpoints',
        'and witness cosignatures, witnessed logs, the log and witness keys and the security events. The',
        'master key is not needed: sealed keys stay bound to their name, version and key id, so the same',
        'master key opens the copy. Stop every key service on the source first: it must not change meanwhile.',
        '',
        'The target must be empty (a new PostgreSQL database, or a SQLite file that does not exist yet): a copy',
        'never merges into a used store. Before reporting success, everything is read back from both stores',
        "and compared, and the copy's audit chain and Merkle root are recomputed and checked against the",
        "source's root and every signed checkpoint. Progress goes to stderr, the summary to stdout.",
        '',
        'Exit codes: 0 copied and verified; 2 the target is not empty (nothing written); 3 the copy differs',
        'from the source (ERR_STORE_COPY_MISMATCH); 10 an audit log that does not verify or differs',
        '(ERR_AUDIT_CHAIN_BROKEN). After any failure once copying started, do not use the target: drop it',
        '(PostgreSQL: DROP DATABASE and CREATE DATABASE; SQLite: delete the file) and copy again.',
      ].join('\n'),
    )
    .action((options: CopyOptions) => copy(options));
}
