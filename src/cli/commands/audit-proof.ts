/**
 * The offline verifiers of the audit log (docs/audit.md, "Verifying receipts and proofs offline"):
 *
 * - `dke audit check-proof <bundle>`: a proof bundle (or receipt) against the log's vkey and optional
 *   witnesses; no network, no database, no config.
 * - `dke audit verify --checkpoint <file|URL>`: the whole local log against a signed, cosigned checkpoint:
 *   the hash chain and the Merkle root of the checkpoint's first `size` records.
 *
 * The checks themselves are the pure verify core's (src/transparency); this module reads inputs and prints.
 */
import type { Command } from 'commander';
import { verifyAuditChain, type AuditVerificationReport } from '../../audit/index.js';
import { DkeError, isDkeError } from '../../errors/index.js';
import type { AuditStore } from '../../keystore/index.js';
import type { AuditChainLink, AuditTail, DkeStore } from '../../store/index.js';
import {
  cosignatureVerifier,
  emptyRoot,
  noteVerifier,
  openCheckpoint,
  verifyCosignatures,
  verifyReceipt,
  type Checkpoint,
  type CosignatureVerifier,
  type NoteVerifier,
  type VerifiedCosigner,
  type VerifiedReceipt,
} from '../../transparency/index.js';
import { readBundleSource, readCheckpointSource } from '../checkpoint-source.js';
import { collect, info } from '../output.js';

export interface TrustOptions {
  readonly logVkey?: string;
  readonly witnessVkey: readonly string[];
  readonly quorum?: number;
}

interface TrustedKeys {
  readonly log: NoteVerifier;
  readonly witnesses: readonly CosignatureVerifier[];
  /** Undefined: no witness policy. */
  readonly quorum?: number;
}

function parseQuorum(value: string): number {
  if (!/^[1-9][0-9]{0,3}$/.test(value)) {
    throw new DkeError('ERR_USAGE', { message: '--quorum is a whole number from 1' });
  }
  return Number(value);
}

/** Adds --log-vkey, --witness-vkey and --quorum. */
export function addTrustOptions(command: Command): Command {
  return command
    .option('--log-vkey <vkey>', "the log's verifier key, as `dke audit key` prints it (origin+hex+base64)")
    .option('--witness-vkey <vkey>', 'a trusted witness verifier key (repeat)', collect, [])
    .option('--quorum <n>', 'witnesses that must have cosigned (default: all given)', parseQuorum);
}

function usageKey(flag: string, error: unknown): never {
  const why = isDkeError(error) ? error.message : 'invalid';
  throw new DkeError('ERR_USAGE', {
    message: `${flag} is not a valid verifier key: ${why}`,
    hint: 'verifier keys look like <name>+<8 hex>+<base64>',
  });
}

function trustedKeys(options: TrustOptions, required: string): TrustedKeys {
  if (options.logVkey === undefined) {
    throw new DkeError('ERR_USAGE', { message: `${required} needs --log-vkey, the log's verifier key` });
  }
  let log: NoteVerifier;
  try {
    log = noteVerifier(options.logVkey);
  } catch (error) {
    return usageKey('--log-vkey', error);
  }
  const witnesses = options.witnessVkey.map((vkey) => {
    try {
      return cosignatureVerifier(vkey);
    } catch (error) {
      return usageKey('--witness-vkey', error);
    }
  });
  if (witnesses.length === 0) {
    if (options.quorum !== undefined) {
      throw new DkeError('ERR_USAGE', {
        message: '--quorum needs the witnesses\u2019 keys (--witness-vkey)',
      });
    }
    return { log, witnesses };
  }
  const quorum = options.quorum ?? witnesses.length;
  if (quorum > witnesses.length) {
    throw new DkeError('ERR_USAGE', {
      message: `--quorum ${quorum} is more than the ${witnesses.length} witness keys given`,
    });
  }
  return { log, witnesses, quorum };
}

/** Control characters in record fields (any signer's text) never reach a terminal. */
function printable(value: string | number | null): string {
  if (value === null) return '-';
  // eslint-disable-next-line no-control-regex
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}

function cosignerLine(cosigners: readonly VerifiedCosigner[], policy: boolean): string {
  if (!policy) return 'not checked (no --witness-vkey)';
  return cosigners
    .map((c) => `${c.name} at ${new Date(Number(c.timestamp) * 1000).toISOString()}`)
    .join(', ');
}

function checkpointJson(checkpoint: Checkpoint, cosigners: readonly VerifiedCosigner[]): object {
  return {
    origin: checkpoint.origin,
    // Sizes come from signed input; above 2^53 a JSON number would round, so such a size is a string.
    size:
      checkpoint.size <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(checkpoint.size)
        : checkpoint.size.toString(),
    rootHash: checkpoint.rootHash.toString('base64'),
    cosigners: cosigners.map((c) => ({ name: c.name, time: Number(c.timestamp) })),
  };
}

function printProof(verified: VerifiedReceipt, policy: boolean): void {
  const r = verified.record;
  const key = r.keyName === null ? '-' : `${r.keyName}${r.keyVersion === null ? '' : ` v${r.keyVersion}`}`;
  const lines = [
    `record     ${r.seq} (entry ${verified.index}) of ${printable(verified.checkpoint.origin)}`,
    `time       ${printable(r.time)}`,
    `action     ${printable(r.action)} ${r.result}${r.reason === null ? '' : ` (${printable(r.reason)})`}`,
    `who        ${printable(r.userName)} (subject ${printable(r.subject)}, issuer ${printable(r.issuer)})`,
    `key        ${printable(key)} ${printable(r.keyId)}`,
    `object     ${printable(r.objectId)}`,
    `from       ${printable(r.clientAddress)} request ${printable(r.requestId)}`,
    `checkpoint ${printable(verified.checkpoint.origin)} size ${verified.checkpoint.size} root ${verified.checkpoint.rootHash.toString('base64')}`,
    `witnesses  ${cosignerLine(verified.cosigners, policy)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerCheckProof(audit: Command): void {
  addTrustOptions(
    audit
      .command('check-proof')
      .description('verify a proof bundle or receipt offline (no network, no database)')
      .argument('<bundle>', 'the proof bundle (c2sp.org/tlog-proof text), or - for stdin'),
  )
    .option('--json', 'print JSON instead of text')
    .addHelpText(
      'after',
      '\nPrints the audit record (who, what, when) and the checkpoint it is proven in, with the witnesses' +
        '\nwhose cosignature counted. Exits 10 (ERR_PROOF_INVALID) naming the check that failed.',
    )
    .action(async (bundle: string, o: TrustOptions & { json?: boolean }) => {
      const keys = trustedKeys(o, 'check-proof');
      const text = await readBundleSource(bundle);
      const verified = verifyReceipt(text, {
        logVerifierKey: keys.log,
        ...(keys.quorum === undefined ? {} : { witnesses: keys.witnesses, quorum: keys.quorum }),
      });
      if (o.json === true) {
        process.stdout.write(
          `${JSON.stringify({
            ok: true,
            index: verified.index,
            record: verified.record,
            checkpoint: checkpointJson(verified.checkpoint, verified.cosigners),
          })}\n`,
        );
      } else {
        printProof(verified, keys.quorum !== undefined);
      }
    });
}

/** The checkpoint's log signature, origin and witness quorum. Throws ERR_PROOF_INVALID naming what failed. */
function openTrustedCheckpoint(
  text: Buffer,
  keys: TrustedKeys,
): { checkpoint: Checkpoint; cosigners: readonly VerifiedCosigner[] } {
  try {
    const { checkpoint } = openCheckpoint(text, keys.log);
    const cosigners =
      keys.quorum === undefined
        ? []
        : verifyCosignatures(text, keys.witnesses, { quorum: keys.quorum }).cosigners;
    return { checkpoint, cosigners };
  } catch (error) {
    if (!isDkeError(error, 'ERR_PROOF_INVALID')) throw error;
    throw new DkeError('ERR_PROOF_INVALID', {
      message: `the checkpoint does not verify: ${error.message}`,
      hint: 'check --log-vkey, --witness-vkey and --quorum, and that the checkpoint is this log\u2019s',
    });
  }
}

export interface CheckpointVerifyOptions extends TrustOptions {
  readonly checkpoint: string;
  readonly anchor?: AuditTail;
  readonly json?: boolean;
}

/** Counts what the chain verifier reads, and whether it read to the end. */
function counted(links: AsyncIterable<AuditChainLink>): {
  links: AsyncIterable<AuditChainLink>;
  exhausted: () => boolean;
} {
  let done = false;
  return {
    links: {
      async *[Symbol.asyncIterator]() {
        for await (const link of links) yield link;
        done = true;
      },
    },
    exhausted: () => done,
  };
}

/**
 * `dke audit verify --checkpoint`: verifies the checkpoint, then streams the log once, checking the chain,
 * the store's own tree, and that the Merkle root of the first `size` records is the checkpoint's root.
 */
export async function verifyAgainstCheckpoint(
  o: CheckpointVerifyOptions,
  withAudit: <T>(run: (store: AuditStore<DkeStore>) => Promise<T>) => Promise<T>,
): Promise<void> {
  const keys = trustedKeys(o, '--checkpoint');
  const { checkpoint, cosigners } = openTrustedCheckpoint(await readCheckpointSource(o.checkpoint), keys);
  const named = `checkpoint ${printable(checkpoint.origin)} size ${checkpoint.size}`;
  const inconsistent = (why: string): DkeError =>
    new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
      message: `audit log is inconsistent with ${named}: ${why}`,
      hint: 'the log was rewritten or cut after the checkpoint was signed: keep this database and the checkpoint as evidence',
    });
  if (checkpoint.size === 0n && !checkpoint.rootHash.equals(emptyRoot())) {
    throw inconsistent('an empty log has another root');
  }
  const size =
    checkpoint.size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(checkpoint.size);
  const report = await withAudit(async ({ store, audit }): Promise<AuditVerificationReport> => {
    const stored = await audit.treeHead();
    const stream = counted(store.iterateAuditChain());
    const heads = size === 0 ? [stored] : [stored, { size, rootHash: checkpoint.rootHash }];
    const result = await verifyAuditChain(stream.links, o.anchor, heads);
    if (result.ok) return result;
    if (o.json === true) {
      process.stdout.write(
        `${JSON.stringify({ ...result, checkpoint: checkpointJson(checkpoint, cosigners) })}\n`,
      );
    }
    const broken = result.firstBroken ?? { seq: 0, reason: 'unknown' };
    // A tree-head mismatch is reported right after record `size` was appended (records === seq); the log
    // ending before a head, after the last record was read.
    if (size > 0 && result.records === size && broken.seq === size) {
      if (result.rootHash !== checkpoint.rootHash.toString('hex')) {
        throw inconsistent(
          `the Merkle root of records 1-${size} is not the checkpoint's root (records were changed, and every hash recomputed)`,
        );
      }
    }
    if (stream.exhausted() && result.records < size) {
      throw inconsistent(`the log has only ${result.records} records`);
    }
    throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
      message: `audit log chain is broken at record ${broken.seq}: ${broken.reason}`,
      hint: `records 1-${result.records} verify; investigate record ${broken.seq} and what follows it`,
    });
  });
  const current = report.rootHash;
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({ ...report, checkpoint: checkpointJson(checkpoint, cosigners) })}\n`,
    );
    return;
  }
  const witnesses = keys.quorum === undefined ? '' : `, cosigned by ${cosignerLine(cosigners, true)}`;
  const longer =
    report.records > size ? `; the log continues to ${report.records} records, current root ${current}` : '';
  const anchor = report.last === undefined ? '' : ` (anchor: ${report.last.seq}:${report.last.hash})`;
  info(`dke: audit log intact and consistent with ${named}${witnesses}${longer}${anchor}`);
}
