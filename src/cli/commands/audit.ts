/**
 * `dke audit verify|list|security|witness-key`: the key service's audit log and security events, read-only and without
 * the master key, on the same store the server writes (docs/audit.md).
 */
import type { Command } from 'commander';
import { DkeError } from '../../errors/index.js';
import { resolveStoreConfig, type StoreFlags } from '../../config/index.js';
import { openAuditStoreAt, type AuditStore } from '../../keystore/index.js';
import type { DkeStore } from '../../store/index.js';
import type { AuditQuery, AuditRecord } from '../../service/contracts.js';
import { info } from '../output.js';
import { writeOutput } from '../io.js';
import { Readable } from 'node:stream';
import { securityEventQuery, type SecurityEvent } from '../../security-events/index.js';
import { addStoreOptions as withStoreOptions } from './key.js';
import { cosignedNote, formatReceipt } from '../../audit/index.js';
import { storedVerifierKey } from '../../keystore/note-signing-keys.js';
import { registerAuditReport } from './audit-report.js';
import {
  addTrustOptions,
  registerCheckProof,
  verifyAgainstCheckpoint,
  type TrustOptions,
} from './audit-proof.js';

const addStoreOptions = (command: Command): Command => withStoreOptions(command, false);

interface AuditOptions extends StoreFlags {
  readonly json?: boolean;
}

interface SecurityOptions extends AuditOptions {
  readonly address?: string;
  readonly reason?: string;
  readonly issuer?: string;
  readonly subject?: string;
  readonly since?: string;
  readonly limit?: number;
}

async function withAudit<T>(
  options: StoreFlags,
  run: (store: AuditStore<DkeStore>) => T | Promise<T>,
): Promise<T> {
  const { database, postgres } = resolveStoreConfig(options);
  const store = await openAuditStoreAt({ dbPath: database, readonly: true, postgres });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

function parseAnchor(value: string): { seq: number; hash: string } {
  const match = /^(\d+):([0-9a-f]{64})$/.exec(value);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new DkeError('ERR_USAGE', {
      message: 'the anchor is <seq>:<64 hex digits>, as printed by dke audit verify',
    });
  }
  return { seq: Number(match[1]), hash: match[2] };
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new DkeError('ERR_USAGE', { message: `invalid limit: ${value}` });
  return Number(value);
}

function formatRecord(r: AuditRecord): string {
  const who = r.userName ?? r.subject ?? '-';
  const key =
    r.keyName === undefined ? '-' : `${r.keyName}${r.keyVersion === undefined ? '' : `@v${r.keyVersion}`}`;
  const extra = [r.reason, r.objectId === undefined ? undefined : `object=${r.objectId}`]
    .filter(Boolean)
    .join(' ');
  return `${r.seq}\t${r.time}\t${r.action}\t${r.result}\t${who}\t${key}${extra === '' ? '' : `\t${extra}`}`;
}

/** Issuer and subject come from signed tokens, but any signer's text: no control characters reach a terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text === '' ? '-' : text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}

function formatSecurityEvent(e: SecurityEvent): string {
  return [
    e.lastSeen,
    e.clientAddress,
    e.reason,
    e.count,
    `minute ${e.windowStart}`,
    printable(e.issuer),
    printable(e.subject),
  ].join('\t');
}

/** An entry index (decimal, = seq - 1) or a request id. */
async function recordToProve(log: AuditStore<DkeStore>['audit'], which: string): Promise<AuditRecord> {
  if (/^(0|[1-9][0-9]{0,15})$/.test(which)) {
    const record = await log.record(Number(which) + 1);
    if (record === undefined) {
      throw new DkeError('ERR_NOT_FOUND', { message: `the audit log has no entry with index ${which}` });
    }
    return record;
  }
  const records = await log.findByRequestId(which);
  if (records.length === 0) {
    throw new DkeError('ERR_NOT_FOUND', { message: 'no audit record carries that request id' });
  }
  if (records.length > 1) {
    throw new DkeError('ERR_USAGE', {
      message: `that request id has ${records.length} audit records (entry indexes ${records.map((r) => r.seq - 1).join(', ')})`,
      hint: 'prove one of them by its entry index',
    });
  }
  return records[0] as AuditRecord;
}

/** The proof bundle (a C2SP tlog-proof) of one record against the latest persisted, cosigned checkpoint. */
async function proveRecord({ store, audit: log }: AuditStore<DkeStore>, which: string): Promise<string> {
  const record = await recordToProve(log, which);
  const checkpoint = await store.latestCheckpoint();
  if (checkpoint === undefined || checkpoint.size < record.seq) {
    throw new DkeError('ERR_NOT_FOUND', {
      message: `entry ${record.seq - 1} is newer than the latest persisted checkpoint${checkpoint === undefined ? '' : ` (size ${checkpoint.size})`}`,
      hint: 'wait for the key service to persist the next checkpoint (audit.log.checkpointIntervalSeconds) or call POST /admin/audit/checkpoint',
    });
  }
  return formatReceipt(log, record, { size: checkpoint.size, note: await cosignedNote(store, checkpoint) });
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('verify and read the key service audit log');

  addStoreOptions(audit.command('key').description("print the audit log's verifier key (vkey)"))
    .addHelpText(
      'after',
      '\nThe key that signs checkpoints, receipts and proof bundles (created when `dke serve` first starts);' +
        '\npin it in verifiers and witnesses. Needs no master key.',
    )
    .action((o: AuditOptions) =>
      withAudit(o, async ({ store }) => {
        const vkey = await storedVerifierKey(store, 'audit-log');
        if (vkey === undefined) {
          throw new DkeError('ERR_NOT_FOUND', {
            message: 'this store has no audit log key yet',
            hint: 'start the key service (dke serve) once on it',
          });
        }
        process.stdout.write(`${vkey}\n`);
      }),
    );

  addStoreOptions(
    audit
      .command('prove')
      .description('write the proof bundle of one audit record (offline-verifiable, dke audit check-proof)')
      .argument('<request-id|index>', 'a request id, or an entry index (decimal: the record seq - 1)'),
  )
    .option('-o, --output <file>', 'write the bundle here instead of standard output')
    .addHelpText(
      'after',
      '\nThe bundle is a C2SP tlog-proof against the latest persisted checkpoint, with the witness' +
        '\ncosignatures stored for it (docs/audit.md "Proof bundles"). A plain number is an entry index.',
    )
    .action(async (which: string, o: AuditOptions & { output?: string }) => {
      const bundle = await withAudit(o, (opened) => proveRecord(opened, which));
      // Like every dke output file: atomic, never replacing an existing file.
      await writeOutput(Readable.from([Buffer.from(bundle, 'utf8')]), o.output, {
        force: false,
        mode: 0o644,
      });
    });

  addTrustOptions(
    addStoreOptions(audit.command('verify').description('verify the hash chain of the whole audit log')),
  )
    .option(
      '--anchor <seq:hash>',
      'also require this record (printed by an earlier verify) to be unchanged',
      parseAnchor,
    )
    .option(
      '--checkpoint <file|url>',
      'also require the log to match this signed checkpoint (needs --log-vkey; witnesses: --witness-vkey, --quorum)',
    )
    .addHelpText(
      'after',
      '\nExits 0 when the chain is intact, 10 (ERR_AUDIT_CHAIN_BROKEN) naming the first bad record.' +
        '\nWith --checkpoint: 10 (ERR_PROOF_INVALID) when the checkpoint does not verify, and 10' +
        '\n(ERR_AUDIT_CHAIN_BROKEN, "inconsistent with checkpoint ...") when the log does not match it.',
    )
    .action(
      async (
        o: AuditOptions & TrustOptions & { anchor?: { seq: number; hash: string }; checkpoint?: string },
      ) => {
        if (o.checkpoint !== undefined) {
          await verifyAgainstCheckpoint({ ...o, checkpoint: o.checkpoint }, (run) => withAudit(o, run));
          return;
        }
        if (o.logVkey !== undefined || o.witnessVkey.length > 0 || o.quorum !== undefined) {
          throw new DkeError('ERR_USAGE', {
            message: '--log-vkey, --witness-vkey and --quorum go with --checkpoint',
          });
        }
        await withAudit(o, async ({ audit: log }) => {
          const report = await log.verify(o.anchor);
          if (o.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
          if (!report.ok) {
            const broken = report.firstBroken;
            throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
              message: `audit log chain is broken at record ${broken?.seq ?? '?'}: ${broken?.reason ?? 'unknown'}`,
              hint: `records 1-${report.records} verify; investigate record ${broken?.seq ?? '?'} and what follows it`,
            });
          }
          if (o.json !== true) {
            const anchor =
              report.last === undefined ? '' : ` (anchor: ${report.last.seq}:${report.last.hash})`;
            info(`dke: audit log intact: ${report.records} records${anchor}`);
          }
        });
      },
    );

  addStoreOptions(
    audit
      .command('witness-key')
      .description("print this service's witness verifier key (cosignature/v1), for the logs it witnesses"),
  )
    .addHelpText(
      'after',
      '\nThe key is created (sealed under the master key) when `dke serve` first starts with audit.witness.',
    )
    .action((o: StoreFlags) =>
      withAudit(o, async ({ store }) => {
        const vkey = await storedVerifierKey(store, 'witness');
        if (vkey === undefined) {
          throw new DkeError('ERR_NOT_FOUND', {
            message: 'this store has no witness key yet',
            hint: 'configure audit.witness and start `dke serve` once; it creates the key',
          });
        }
        process.stdout.write(`${vkey}\n`);
      }),
    );

  addStoreOptions(audit.command('list').description('list audit records, newest first'))
    .option('--key <name>', 'only records of this key')
    .option('--object <objectId>', 'only records of this object id')
    .option('--subject <sub>', 'only records of this token subject')
    .option('--identity <name>', 'only records whose subject or user name is this')
    .option('--since <time>', 'only records at or after this ISO-8601 time')
    .option('--limit <n>', 'at most this many records (default 100)', parseLimit)
    .action(
      (
        o: AuditOptions & {
          key?: string;
          object?: string;
          subject?: string;
          identity?: string;
          since?: string;
          limit?: number;
        },
      ) =>
        withAudit(o, async ({ audit: log }) => {
          const query: AuditQuery = {
            ...(o.key === undefined ? {} : { keyName: o.key }),
            ...(o.object === undefined ? {} : { objectId: o.object }),
            ...(o.subject === undefined ? {} : { subject: o.subject }),
            ...(o.identity === undefined ? {} : { identity: o.identity }),
            ...(o.since === undefined ? {} : { since: o.since }),
            ...(o.limit === undefined ? {} : { limit: o.limit }),
          };
          for (const record of await log.query(query)) {
            process.stdout.write(`${o.json === true ? JSON.stringify(record) : formatRecord(record)}\n`);
          }
        }),
    );

  addStoreOptions(
    audit
      .command('security')
      .description(
        'list security events (failed authentications per address, reason, token issuer/subject and minute), newest first',
      ),
  )
    .option('--address <ip>', 'only events of this client address')
    .option(
      '--reason <code>',
      'only events with this reason (ERR_AUTH_INVALID, ERR_AUTH_MISSING, ERR_RATE_LIMITED)',
    )
    .option('--issuer <url>', 'only events of refused tokens verified against this issuer')
    .option('--subject <sub>', 'only events of refused tokens of this subject')
    .option('--since <time>', 'only events last seen at or after this ISO-8601 time')
    .option('--limit <n>', 'at most this many rows (default 100)', parseLimit)
    .addHelpText(
      'after',
      '\nColumns: last seen, client address, reason, count, minute, issuer, subject ("-" when unknown:' +
        '\nonly a token whose signature verified names them). --json: one object a line.',
    )
    .action((o: SecurityOptions) =>
      withAudit(o, async ({ store }) => {
        const query = securityEventQuery({
          ...(o.address === undefined ? {} : { address: o.address }),
          ...(o.reason === undefined ? {} : { reason: o.reason }),
          ...(o.issuer === undefined ? {} : { issuer: o.issuer }),
          ...(o.subject === undefined ? {} : { subject: o.subject }),
          ...(o.since === undefined ? {} : { since: o.since }),
          ...(o.limit === undefined ? {} : { limit: o.limit }),
        });
        for (const event of await store.querySecurityEvents(query)) {
          process.stdout.write(`${o.json === true ? JSON.stringify(event) : formatSecurityEvent(event)}\n`);
        }
      }),
    );

  registerAuditReport(audit, addStoreOptions);
  registerCheckProof(audit);
}
