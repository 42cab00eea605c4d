/**
 * The integrity statement that heads a report: the full verification of the log (hash chain and Merkle
 * tree: size, chain head, RFC 6962 root), and a persisted signed checkpoint with the witness cosignatures
 * stored for it: the largest one a witness cosigned (the strongest evidence: someone outside saw it), else
 * the latest. A checkpoint persisted a moment ago is usually not cosigned yet, so "the latest" alone would
 * often show none. The checkpoint's root is checked against the records during that same
 * verification, so "verified up to size N, root R, cosigned by W at T" is one claim, not three.
 */
import type { AuditTreeHead, AuditVerificationReport } from '../audit/index.js';
import type { AuditTail, CheckpointRow, CosignatureRow, DkeStore } from '../store/index.js';
import { parseCheckpointBody, parseNote } from '../transparency/index.js';
import type { IntegrityStatement } from './types.js';

export const NO_CHECKPOINT_TEXT = 'no signed checkpoint available';

/** Anything that verifies the whole log, such as StoreAuditLog. */
export interface VerifiableLog {
  verify(anchor?: AuditTail, treeHeads?: readonly AuditTreeHead[]): Promise<AuditVerificationReport>;
}

/** Where persisted checkpoints and their cosignatures are (the store). */
export type CheckpointSource = Pick<
  DkeStore,
  'latestCheckpoint' | 'getCheckpoint' | 'listCosignatures' | 'newestCosignatures'
>;

/** The largest cosigned checkpoint, else the latest one. */
async function headlineCheckpoint(source: CheckpointSource): Promise<CheckpointRow | undefined> {
  const cosignedSizes = (await source.newestCosignatures()).map((c) => c.size);
  if (cosignedSizes.length > 0) {
    const cosigned = await source.getCheckpoint(Math.max(...cosignedSizes));
    if (cosigned !== undefined) return cosigned;
  }
  return source.latestCheckpoint();
}

export function checkpointOf(
  row: CheckpointRow,
  cosignatures: readonly CosignatureRow[],
): Pick<IntegrityStatement, 'checkpoint' | 'cosignatures'> {
  const note = parseNote(row.note);
  const body = parseCheckpointBody(note.body);
  return {
    checkpoint: {
      origin: body.origin,
      size: row.size,
      rootHash: row.root.toString('hex'),
      noteText: row.note,
      signedBy: [...new Set(note.signatures.map((s) => s.name))],
    },
    cosignatures: cosignatures.map((c) => ({
      witness: c.witnessName,
      time: new Date(c.timestamp * 1000).toISOString(),
    })),
  };
}

export async function integrityStatement(
  log: VerifiableLog,
  checkpoints?: CheckpointSource,
): Promise<IntegrityStatement> {
  const latest = checkpoints === undefined ? undefined : await headlineCheckpoint(checkpoints);
  // The checkpoint's root must be the root of the records verified: checked in the same pass.
  const report = await log.verify(
    undefined,
    latest === undefined ? [] : [{ size: latest.size, rootHash: latest.root }],
  );
  const signed =
    latest === undefined || checkpoints === undefined
      ? {}
      : checkpointOf(latest, await checkpoints.listCosignatures(latest.size));
  const head = {
    ...(report.last === undefined ? {} : { chainHead: report.last.hash }),
    ...(report.ok ? { rootHash: report.rootHash } : {}),
    ...signed,
  };
  if (report.ok) return { verified: true, size: report.records, ...head, problems: [] };
  const broken = report.firstBroken ?? { seq: report.records + 1, reason: 'unknown' };
  return {
    verified: false,
    size: report.records,
    ...head,
    firstBroken: { seq: broken.seq, reason: broken.reason },
    problems: [`record ${broken.seq}: ${broken.reason}`],
  };
}
