/**
 * Our audit log's transparency on the server (docs/audit.md, "Checkpoints", "Receipts", "Witness
 * submission"): the checkpointer (log key, signed and persisted checkpoints), receipts, and the witness
 * client with its fail-closed rule. Routes reach it through RouteContext.transparency.
 */
import { DkeError } from '../errors/index.js';
import { Checkpointer } from '../audit/checkpointer.js';
import { cosignedNote, formatReceipt } from '../audit/receipts.js';
import { WitnessClient, type SubmissionOutcome, type WitnessStatus } from '../audit/witness-client.js';
import type { StoreAuditLog } from '../audit/index.js';
import type { AuditLogConfig } from '../config/index.js';
import type { CheckpointRow, DkeStore } from '../store/index.js';
import type { NoteSignerKey } from '../transparency/index.js';
import type { AuditRecord } from './contracts.js';
import type { WitnessHealth } from './health.js';

/** The configured rules of the log's transparency (audit.log), as the console shows them. */
export interface TransparencySettings {
  readonly checkpointIntervalSeconds: number;
  /** Witnesses that must have cosigned (default all of them). */
  readonly quorum: number;
  /** The fail-closed rule, when set. */
  readonly requireCosignatureWithinSeconds: number | undefined;
}

export interface LogTransparency {
  /** Native unwrap answers carry receipts (audit.log.receipts). */
  readonly receipts: boolean;
  readonly settings: TransparencySettings;
  /** A receipt for a committed record, against a freshly signed checkpoint covering it. */
  receiptFor(record: AuditRecord): Promise<string>;
  /** Receipts for the records of this request id, against one signed checkpoint of the current tree. */
  receiptsForRequest(requestId: string): Promise<string[]>;
  /** Persists a checkpoint of the current tree now (admin); resolves to it. */
  checkpointNow(): Promise<CheckpointRow>;
  /** The latest persisted checkpoint note with its stored cosignature lines, if any. */
  publishedCheckpoint(): Promise<string | undefined>;
  /** Consistency proof between two tree sizes (≤ the current size). */
  consistencyProof(oldSize: number, newSize: number): Promise<Buffer[]>;
  /** Throws ERR_NOT_WITNESSED while the fail-closed rule is set and not met. */
  assertWitnessed(): void;
  /** Undefined without witnesses. */
  witnessHealth(): WitnessHealth | undefined;
  /** Seconds since a quorum of witnesses had cosigned; undefined when they never did. */
  quorumAgeSeconds(): number | undefined;
  /** Each configured witness: newest cosignature, last submission outcome (empty without witnesses). */
  witnessStates(): WitnessStatus[];
  close(): Promise<void>;
}

export interface LogTransparencyDeps {
  readonly audit: StoreAuditLog;
  readonly store: DkeStore;
  readonly signer: NoteSignerKey;
  readonly config: AuditLogConfig;
  readonly onCheckpointSigned?: () => void;
  readonly onSubmission?: (witness: string, outcome: SubmissionOutcome, detail?: string) => void;
  readonly onError?: (error: unknown) => void;
  /**
   * Whether this process runs the once-per-service background work: persisting a checkpoint every interval
   * and submitting checkpoints to witnesses. Default true. In a cluster (src/service/cluster) one worker
   * does; the others (followers) only read what it stored: the published checkpoint on each request,
   * the witnesses' cosignatures (for the fail-closed rule and health) every few seconds.
   */
  readonly leader?: boolean;
}

/** How often a follower reads the cosignatures the leader stored: well within the fail-closed window. */
function followSeconds(config: AuditLogConfig): number {
  const limit = config.requireCosignatureWithinSeconds;
  const quarter = limit === undefined ? Infinity : Math.floor(limit / 4);
  return Math.max(1, Math.min(config.checkpointIntervalSeconds, quarter));
}

export async function startLogTransparency(deps: LogTransparencyDeps): Promise<LogTransparency> {
  const { audit, store, config } = deps;
  const leader = deps.leader ?? true;
  const witnesses = await WitnessClient.open({
    witnesses: config.witnesses,
    log: audit,
    store,
    ...(config.quorum === undefined ? {} : { quorum: config.quorum }),
    ...(config.requireCosignatureWithinSeconds === undefined
      ? {}
      : { requireCosignatureWithinSeconds: config.requireCosignatureWithinSeconds }),
    intervalSeconds: config.checkpointIntervalSeconds,
    ...(deps.onSubmission === undefined ? {} : { onOutcome: deps.onSubmission }),
  });
  const checkpointer = await Checkpointer.open({
    log: audit,
    store,
    signer: deps.signer,
    intervalSeconds: config.checkpointIntervalSeconds,
    ...(deps.onCheckpointSigned === undefined ? {} : { onSigned: deps.onCheckpointSigned }),
    // A follower's persist (an admin's checkpoint) is submitted by the leader's next round.
    onPersisted: (row) => {
      if (leader) witnesses.submit(row);
    },
    ...(deps.onError === undefined ? {} : { onError: deps.onError }),
  });
  let follow: NodeJS.Timeout | undefined;
  if (leader) {
    checkpointer.start();
    witnesses.start();
    // Witnesses behind our latest checkpoint (e.g. after a restart) are caught up at once.
    await witnesses.tick();
  } else if (config.witnesses.length > 0) {
    follow = setInterval(() => void witnesses.refresh(), followSeconds(config) * 1000);
    follow.unref();
  }

  return {
    receipts: config.receipts,
    settings: {
      checkpointIntervalSeconds: config.checkpointIntervalSeconds,
      quorum: witnesses.quorum,
      requireCosignatureWithinSeconds: config.requireCosignatureWithinSeconds,
    },
    async receiptFor(record) {
      return formatReceipt(audit, record, await checkpointer.signedCheckpoint(record.seq));
    },
    async receiptsForRequest(requestId) {
      const records = await audit.findByRequestId(requestId);
      if (records.length === 0) return [];
      const checkpoint = await checkpointer.signedCheckpoint(Math.max(...records.map((r) => r.seq)));
      return Promise.all(records.map((record) => formatReceipt(audit, record, checkpoint)));
    },
    checkpointNow: () => checkpointer.persist(),
    async publishedCheckpoint() {
      const row = leader ? checkpointer.latestPersisted() : await checkpointer.refreshLatest();
      return row === undefined ? undefined : cosignedNote(store, row);
    },
    async consistencyProof(oldSize, newSize) {
      if (oldSize > newSize) {
        throw new DkeError('ERR_BAD_REQUEST', { message: 'old must not be larger than new' });
      }
      return audit.consistencyProof(oldSize, newSize);
    },
    assertWitnessed: () => witnesses.assertWitnessed(),
    witnessHealth: () => (config.witnesses.length === 0 ? undefined : witnesses.health()),
    quorumAgeSeconds: () => {
      const at = witnesses.quorumTimestamp();
      return at === undefined ? undefined : Math.floor(Date.now() / 1000) - at;
    },
    witnessStates: () => witnesses.states(),
    async close() {
      if (follow !== undefined) clearInterval(follow);
      checkpointer.stop();
      witnesses.stop();
      await witnesses.settled();
    },
  };
}
