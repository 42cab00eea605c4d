/**
 * Audit log verification (docs/benchmarks.md "Audit verify"): a store with N audit records (default one
 * million) written through the audit module's own append path, in large group commits, then
 * `dke audit verify` timed as a user runs it: a fresh CLI process on the SQLite file.
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { StoreAuditLog } from '../src/audit/index.js';
import type { AuditEvent } from '../src/service/contracts.js';
import { openSqliteStore } from '../src/store/index.js';
import {
  dke,
  formatSize,
  log,
  makeTempDir,
  markdownTable,
  median,
  num,
  removeTempDir,
  runOk,
  type PhaseResult,
  type TargetCheck,
} from './util.js';

export interface AuditBenchOptions {
  readonly records: number;
  readonly runs: number;
  readonly tmpRoot: string;
}

const TARGET_RECORDS = 1_000_000;
const TARGET_SECONDS = 10;
/** Appends per group commit while filling: one transaction (and one fsync) each. */
const FILL_BATCH = 10_000;
const TENANT = 'https://login.microsoftonline.com/5f3c0c54-2b1e-4d1e-9b5a-4c7f0f2f7f2a/v2.0';
const KEY_ID = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

/** A plausible mix: two thirds native unwraps, one third MS DKE decrypts, 2% denied, 5000 users, 20 keys. */
export function syntheticEvent(i: number): AuditEvent {
  const user = i % 5000;
  const native = i % 3 !== 0;
  const denied = i % 50 === 0;
  return {
    action: native ? 'native.unwrap' : 'ms-dke.decrypt',
    result: denied ? 'denied' : 'allowed',
    ...(denied ? { reason: 'ERR_FORBIDDEN' } : {}),
    issuer: TENANT,
    subject: `user-${user}`,
    userName: `user${user}@contoso.example`,
    keyName: `key-${i % 20}`,
    keyVersion: 1 + (i % 3),
    keyId: KEY_ID,
    ...(native ? { objectId: Buffer.alloc(16, i % 251).toString('base64url') } : {}),
    clientAddress: `192.0.2.${(i % 250) + 1}`,
    requestId: randomUUID(),
  };
}

/** Proofs timed per tree size: enough for a stable mean, few enough to stay quick. */
const PROOFS_PER_SIZE = 2000;

interface ProofTiming {
  readonly treeSize: number;
  /** Mean microseconds per inclusion proof (random entries, proof to the full tree). */
  readonly inclusionMicros: number;
  /** Mean microseconds per consistency proof (random old size to the full tree). */
  readonly consistencyMicros: number;
  /** Mean hashes per inclusion proof. */
  readonly hashesPerProof: number;
}

/**
 * Inclusion and consistency proofs from the store's tree nodes at `treeSize` (a prefix of the filled log), as
 * the key service builds them for receipts and witnesses: O(log n) node reads each.
 */
async function timeProofs(audit: StoreAuditLog, treeSize: number): Promise<ProofTiming> {
  let seed = 12345;
  const random = (below: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % below;
  };
  let hashes = 0;
  let started = performance.now();
  for (let i = 0; i < PROOFS_PER_SIZE; i += 1) {
    hashes += (await audit.inclusionProof(random(treeSize), treeSize)).length;
  }
  const inclusionMicros = ((performance.now() - started) * 1000) / PROOFS_PER_SIZE;
  started = performance.now();
  for (let i = 0; i < PROOFS_PER_SIZE; i += 1) {
    await audit.consistencyProof(1 + random(treeSize - 1), treeSize);
  }
  const consistencyMicros = ((performance.now() - started) * 1000) / PROOFS_PER_SIZE;
  return { treeSize, inclusionMicros, consistencyMicros, hashesPerProof: hashes / PROOFS_PER_SIZE };
}

async function proofTimings(dbPath: string, records: number): Promise<ProofTiming[]> {
  const store = openSqliteStore(dbPath, { readonly: true });
  const audit = new StoreAuditLog(store);
  try {
    const sizes = [...new Set([Math.min(1000, records), records])].filter((n) => n >= 2);
    const timings: ProofTiming[] = [];
    for (const size of sizes) timings.push(await timeProofs(audit, size));
    return timings;
  } finally {
    await store.close();
  }
}

async function fill(dbPath: string, records: number): Promise<number> {
  const started = performance.now();
  const store = openSqliteStore(dbPath);
  const audit = new StoreAuditLog(store, { maxBatch: FILL_BATCH });
  try {
    for (let next = 0; next < records;) {
      const pending: Promise<unknown>[] = [];
      for (const end = Math.min(records, next + FILL_BATCH); next < end; next += 1)
        pending.push(audit.append(syntheticEvent(next)));
      await Promise.all(pending);
      if (next % 200_000 === 0) log(`  ${next} records`);
    }
  } finally {
    await audit.close();
    await store.close();
  }
  return (performance.now() - started) / 1000;
}

export async function runAudit(options: AuditBenchOptions): Promise<PhaseResult> {
  const dir = makeTempDir(options.tmpRoot, 'dke-bench-audit-');
  try {
    const dbPath = path.join(dir, 'audit.db');
    log(`audit: writing ${options.records} records through the audit log (group commits of ${FILL_BATCH})`);
    const fillSeconds = await fill(dbPath, options.records);
    const dbBytes = statSync(dbPath).size;
    log(`  ${num(fillSeconds, 1)} s, ${formatSize(dbBytes)}`);

    const startup = await runOk(dke(['--version']), { timeoutMs: 60_000, captureStdout: true });
    const runs: { seconds: number; maxRssKiB: number | undefined }[] = [];
    for (let run = 0; run < options.runs; run += 1) {
      const result = await runOk(dke(['audit', 'verify', '--db', dbPath]), {
        timeoutMs: 600_000,
        measureRss: true,
      });
      const match = /intact: (\d+) records/.exec(result.stderr);
      if (Number(match?.[1]) !== options.records)
        throw new Error(
          `dke audit verify did not report ${options.records} intact records: ${result.stderr.trim()}`,
        );
      log(`  dke audit verify: ${num(result.seconds, 2)} s`);
      runs.push({ seconds: result.seconds, maxRssKiB: result.maxRssKiB });
    }
    const proofs = await proofTimings(dbPath, options.records);
    for (const p of proofs) {
      log(
        `  proofs at ${p.treeSize} records: inclusion ${num(p.inclusionMicros, 1)} µs, consistency ${num(p.consistencyMicros, 1)} µs`,
      );
    }
    const best = Math.min(...runs.map((r) => r.seconds));
    const rss = Math.max(...runs.map((r) => r.maxRssKiB ?? 0));
    const table = markdownTable(
      ['Measure', 'Value'],
      [
        ['Records', String(options.records)],
        ['Store size', formatSize(dbBytes)],
        [`Fill through StoreAuditLog.append (commits of ${FILL_BATCH})`, `${num(fillSeconds, 1)} s`],
        [`\`dke audit verify\`, best of ${runs.length}`, `${num(best, 2)} s`],
        ['`dke audit verify`, median', `${num(median(runs.map((r) => r.seconds)), 2)} s`],
        ['`dke audit verify`, records/s (best)', num(options.records / best, 0)],
        ['`dke audit verify`, peak RSS', rss === 0 ? '–' : `${num(rss / 1024, 1)} MiB`],
        ['CLI start-up alone (`dke --version`)', `${num(startup.seconds, 2)} s`],
      ],
    );
    const proofTable = markdownTable(
      ['Tree size', 'Inclusion proof (mean)', 'Hashes per proof', 'Consistency proof (mean)'],
      proofs.map((p) => [
        p.treeSize.toLocaleString('en-US'),
        `${num(p.inclusionMicros, 1)} µs`,
        num(p.hashesPerProof, 1),
        `${num(p.consistencyMicros, 1)} µs`,
      ]),
    );
    const atTarget = options.records >= TARGET_RECORDS;
    const targets: TargetCheck[] = [
      {
        target: `dke audit verify of ${TARGET_RECORDS.toLocaleString('en-US')} records`,
        required: `≤ ${TARGET_SECONDS} s`,
        measured: atTarget
          ? `${num(best, 2)} s`
          : `not run at 1M (${options.records} records: ${num(best, 2)} s)`,
        pass: atTarget ? best <= TARGET_SECONDS : undefined,
      },
    ];
    return {
      phase: 'audit',
      data: { records: options.records, dbBytes, fillSeconds, startupSeconds: startup.seconds, runs, proofs },
      markdown: [
        `### Audit verify (${options.records} records)`,
        '',
        table,
        '',
        `Merkle proofs from the store's tree nodes (${PROOFS_PER_SIZE} random proofs per size, to the full tree):`,
        '',
        proofTable,
      ].join('\n'),
      targets,
    };
  } finally {
    removeTempDir(dir);
  }
}
