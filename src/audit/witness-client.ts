/**
 * Submits our own checkpoints to the witnesses configured for our log (C2SP tlog-witness `add-checkpoint`,
 * docs/audit.md "Witness submission"), never on a request's path: after each persisted checkpoint and on a
 * timer. Each returned cosignature is verified against that witness's pinned vkey before it is stored.
 *
 * Per witness it remembers the last size the witness cosigned (from the stored cosignatures at start), sends
 * the consistency proof from there, and on 409 retries once from the size the witness says it knows. A
 * failing witness is retried with exponential backoff; refusals (400/403/404/422) and bad cosignatures are
 * errors an operator must look at (log, metrics, /healthz).
 *
 * The quorum rule: `quorumTimestamp` is the newest time by which `quorum` distinct witnesses had each
 * cosigned one of our checkpoints; with `requireCosignatureWithinSeconds` set, releases fail closed
 * (ERR_NOT_WITNESSED) while it is older than that (or missing).
 */
import { DkeError, isDkeError } from '../errors/index.js';
import type { CheckpointRow, CosignatureRow, DkeStore } from '../store/index.js';
import {
  appendSignatures,
  cosignatureVerifier,
  formatSignatureLine,
  parseNote,
  verifyCosignatures,
  type CosignatureVerifier,
} from '../transparency/index.js';

export type SubmissionOutcome =
  'cosigned' | 'conflict' | 'refused' | 'invalid_cosignature' | 'unreachable' | 'store_busy';

/** Outcomes an operator must act on (the witness disagrees with us or answers nonsense). */
const ERROR_OUTCOMES: ReadonlySet<SubmissionOutcome> = new Set([
  'conflict',
  'refused',
  'invalid_cosignature',
]);

export interface WitnessClientOptions {
  readonly witnesses: readonly { readonly url: string; readonly vkey: string }[];
  readonly log: { consistencyProof(size1: number, size2: number): Promise<Buffer[]> };
  readonly store: Pick<DkeStore, 'storeCosignature' | 'newestCosignatures' | 'latestCheckpoint'>;
  /** Witnesses that must have cosigned (default all). */
  readonly quorum?: number;
  /** Set: the fail-closed rule is on, and witnesses are re-asked before their cosignature gets this old. */
  readonly requireCosignatureWithinSeconds?: number;
  /** Background round interval (re-submission, retries), seconds. */
  readonly intervalSeconds: number;
  readonly timeoutMs?: number;
  /** POSIX ms. */
  readonly now?: () => number;
  readonly onOutcome?: (witness: string, outcome: SubmissionOutcome, detail?: string) => void;
}

interface WitnessState {
  readonly url: string;
  readonly verifier: CosignatureVerifier;
  /** The size the witness last cosigned (or told us it knows, after a 409). */
  knownSize: number | undefined;
  newest: { size: number; timestamp: number } | undefined;
  inFlight: Promise<void> | undefined;
  failures: number;
  notBefore: number;
  lastOutcome: SubmissionOutcome | undefined;
}

/** One witness as this process sees it (the console's Integrity page). */
export interface WitnessStatus {
  /** The witness's name (its vkey's). */
  readonly name: string;
  readonly url: string;
  /** The newest cosignature it gave us (size, POSIX seconds), if any. */
  readonly newest: { readonly size: number; readonly timestamp: number } | undefined;
  /** The outcome of the last submission this process made, if any (followers submit none). */
  readonly lastOutcome: SubmissionOutcome | undefined;
  /** Submissions failed in a row. */
  readonly failures: number;
  /** The last outcome is one an operator must act on (refused, conflict, bad cosignature). */
  readonly failing: boolean;
}

const MAX_BACKOFF_MS = 5 * 60_000;
const MAX_ANSWER_BYTES = 64 * 1024;
const SIZE_LINE = /^(0|[1-9][0-9]{0,15})\n$/;

export class WitnessClient {
  private readonly witnesses: WitnessState[];
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** Aborts submissions under way when the service stops. */
  private readonly stopping = new AbortController();
  readonly quorum: number;

  /** Starts from the cosignatures stored already (each witness's newest). */
  static async open(options: WitnessClientOptions): Promise<WitnessClient> {
    return new WitnessClient(options, await options.store.newestCosignatures());
  }

  private constructor(
    private readonly options: WitnessClientOptions,
    stored: readonly CosignatureRow[],
  ) {
    this.now = options.now ?? Date.now;
    this.witnesses = options.witnesses.map(({ url, vkey }) => {
      const verifier = cosignatureVerifier(vkey);
      const row = stored.find((r) => r.witnessName === verifier.name && r.keyHash.equals(verifier.keyHash));
      return {
        url: url.replace(/\/+$/, ''),
        verifier,
        knownSize: row?.size,
        newest: row === undefined ? undefined : { size: row.size, timestamp: row.timestamp },
        inFlight: undefined,
        failures: 0,
        notBefore: 0,
        lastOutcome: undefined,
      };
    });
    this.quorum = options.quorum ?? this.witnesses.length;
  }

  /** Submits this checkpoint to every witness not busy or backing off (fire and forget). */
  submit(row: CheckpointRow): void {
    for (const witness of this.witnesses) this.schedule(witness, row);
  }

  /** Resolves once every submission under way has ended (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.witnesses.flatMap((w) => (w.inFlight === undefined ? [] : [w.inFlight])));
  }

  start(): void {
    if (this.timer !== undefined || this.witnesses.length === 0) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Stops the timer and aborts submissions under way (no new ones start). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopping.abort();
  }

  /**
   * Re-submits the latest persisted checkpoint to witnesses behind it or whose cosignature gets old. Never
   * rejects; resolves once the submissions are scheduled (not finished: see settled).
   */
  async tick(): Promise<void> {
    let latest: CheckpointRow | undefined;
    try {
      latest = await this.options.store.latestCheckpoint();
    } catch {
      return; // a busy or failing store: next round
    }
    if (latest === undefined) return;
    const refreshSeconds =
      this.options.requireCosignatureWithinSeconds === undefined
        ? undefined
        : Math.max(1, Math.floor(this.options.requireCosignatureWithinSeconds / 2));
    const nowSeconds = Math.floor(this.now() / 1000);
    for (const witness of this.witnesses) {
      const behind = witness.newest === undefined || witness.newest.size < latest.size;
      const aging =
        refreshSeconds !== undefined &&
        witness.newest !== undefined &&
        nowSeconds - witness.newest.timestamp >= refreshSeconds;
      if (behind || aging) this.schedule(witness, latest);
    }
  }

  /**
   * Adopts cosignatures another process stored (the cluster worker that submits, src/service/cluster), so
   * this process's fail-closed rule and health see them. Never rejects: a busy store is read next time.
   */
  async refresh(): Promise<void> {
    let stored: CosignatureRow[];
    try {
      stored = await this.options.store.newestCosignatures();
    } catch {
      return;
    }
    for (const witness of this.witnesses) {
      const { name, keyHash } = witness.verifier;
      const row = stored.find((r) => r.witnessName === name && r.keyHash.equals(keyHash));
      if (row === undefined) continue;
      if (witness.newest === undefined || row.timestamp > witness.newest.timestamp) {
        witness.newest = { size: row.size, timestamp: row.timestamp };
      }
      if (witness.knownSize === undefined || row.size > witness.knownSize) witness.knownSize = row.size;
    }
  }

  /** POSIX seconds by which a quorum of witnesses had cosigned; undefined when fewer ever did. */
  quorumTimestamp(): number | undefined {
    if (this.quorum < 1) return undefined;
    const times = this.witnesses
      .flatMap((w) => (w.newest === undefined ? [] : [w.newest.timestamp]))
      .sort((a, b) => b - a);
    return times[this.quorum - 1];
  }

  /** Throws ERR_NOT_WITNESSED while the fail-closed rule is on and not met. */
  assertWitnessed(): void {
    const limit = this.options.requireCosignatureWithinSeconds;
    if (limit === undefined) return;
    const at = this.quorumTimestamp();
    const age = at === undefined ? undefined : Math.floor(this.now() / 1000) - at;
    if (age === undefined || age > limit) {
      throw new DkeError('ERR_NOT_WITNESSED', {
        detail:
          age === undefined
            ? `no quorum of ${this.quorum} witness cosignatures yet`
            : `the newest quorum cosignature is ${age} s old (limit ${limit} s)`,
      });
    }
  }

  /** Each configured witness, in configuration order. */
  states(): WitnessStatus[] {
    return this.witnesses.map((w) => ({
      name: w.verifier.name,
      url: w.url,
      newest: w.newest === undefined ? undefined : { ...w.newest },
      lastOutcome: w.lastOutcome,
      failures: w.failures,
      failing: w.lastOutcome !== undefined && ERROR_OUTCOMES.has(w.lastOutcome),
    }));
  }

  /** 'unwitnessed' while the rule fails, 'errors' while a witness refuses us, else 'ok'. */
  health(): 'ok' | 'unwitnessed' | 'errors' {
    try {
      this.assertWitnessed();
    } catch {
      return 'unwitnessed';
    }
    return this.witnesses.some((w) => w.lastOutcome !== undefined && ERROR_OUTCOMES.has(w.lastOutcome))
      ? 'errors'
      : 'ok';
  }

  private schedule(witness: WitnessState, row: CheckpointRow): void {
    if (witness.inFlight !== undefined || this.now() < witness.notBefore || this.stopping.signal.aborted)
      return;
    witness.inFlight = this.submitTo(witness, row).finally(() => {
      witness.inFlight = undefined;
    });
  }

  private async submitTo(witness: WitnessState, row: CheckpointRow): Promise<void> {
    let outcome: SubmissionOutcome;
    let detail: string | undefined;
    try {
      let old = witness.knownSize !== undefined && witness.knownSize <= row.size ? witness.knownSize : 0;
      let answer = await this.post(witness, old, row);
      if (answer.status === 409) {
        const known = SIZE_LINE.exec(answer.text);
        const size = known === null ? undefined : Number(known[1]);
        if (size !== undefined && size <= row.size && size !== old) {
          witness.knownSize = size;
          old = size;
          answer = await this.post(witness, old, row);
        }
      }
      if (answer.status === 200) {
        await this.store(witness, row, answer.text);
        outcome = 'cosigned';
      } else {
        outcome = answer.status === 409 ? 'conflict' : answer.status >= 500 ? 'unreachable' : 'refused';
        detail = `HTTP ${answer.status}: ${answer.text.slice(0, 200)}`;
      }
    } catch (error) {
      if (isDkeError(error, 'ERR_STORE_BUSY')) outcome = 'store_busy';
      else if (isDkeError(error, 'ERR_PROOF_INVALID')) outcome = 'invalid_cosignature';
      else outcome = 'unreachable';
      detail = error instanceof DkeError ? `${error.message}: ${error.detail ?? ''}` : String(error);
    }
    witness.lastOutcome = outcome;
    if (outcome === 'cosigned') {
      witness.failures = 0;
      witness.notBefore = 0;
    } else {
      witness.failures += 1;
      const backoff = Math.min(
        MAX_BACKOFF_MS,
        this.options.intervalSeconds * 1000 * 2 ** (witness.failures - 1),
      );
      witness.notBefore = this.now() + backoff;
    }
    this.options.onOutcome?.(witness.verifier.name, outcome, detail);
  }

  private async post(
    witness: WitnessState,
    old: number,
    row: CheckpointRow,
  ): Promise<{ status: number; text: string }> {
    const proof = old === 0 ? [] : await this.options.log.consistencyProof(old, row.size);
    const body = [`old ${old}`, ...proof.map((h) => h.toString('base64')), '', row.note].join('\n');
    const response = await fetch(`${witness.url}/add-checkpoint`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      redirect: 'error',
      signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 10_000), this.stopping.signal]),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > MAX_ANSWER_BYTES) {
      throw new DkeError('ERR_REMOTE_PROTOCOL', { detail: 'witness answer is too large' });
    }
    return { status: response.status, text: bytes.toString('utf8') };
  }

  /** Verifies the witness's cosignature on our checkpoint and stores the line. Rejects ERR_PROOF_INVALID. */
  private async store(witness: WitnessState, row: CheckpointRow, answer: string): Promise<void> {
    const lines = answer
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => `${line}\n`);
    const cosigned = appendSignatures(row.note, lines);
    const [cosigner] = verifyCosignatures(cosigned, [witness.verifier], { quorum: 1 }).cosigners;
    const signature = parseNote(cosigned).signatures.find(
      (s) => s.name === witness.verifier.name && s.keyHash.equals(witness.verifier.keyHash),
    );
    if (cosigner === undefined || signature === undefined || cosigner.timestamp === 0n) {
      throw new DkeError('ERR_PROOF_INVALID', { detail: 'witness answer has no usable cosignature' });
    }
    const cosignature: CosignatureRow = {
      size: row.size,
      witnessName: witness.verifier.name,
      keyHash: witness.verifier.keyHash,
      line: formatSignatureLine(signature.name, signature.keyHash, signature.signature),
      timestamp: Number(cosigner.timestamp),
    };
    await this.options.store.storeCosignature(cosignature);
    witness.knownSize = row.size;
    witness.newest = { size: row.size, timestamp: cosignature.timestamp };
  }
}
