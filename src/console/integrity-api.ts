/**
 * The Integrity page's endpoints (docs/console.md, "Integrity"). GET /integrity is cheap (no verification):
 * the latest signed checkpoint with its cosignatures, each witness's newest cosignature and last submission,
 * the quorum and fail-closed rule, the last verification of this process, and the alarms. POST
 * /integrity/verify verifies the whole log (hash chain and Merkle tree, against the checkpoint) through the
 * shared monitor: one at a time, concurrent callers join it. It is a POST although it changes no data: it
 * starts work and replaces the result (and alarm) every user of this process sees, so it takes the CSRF check
 * like any change, and nothing prefetches or replays it.
 */
import { checkpointOf } from '../report/index.js';
import { READERS, type ConsoleRouter } from './api.js';
import { integrityAlarms, isStale, staleRule, type Alarm, type AlarmInput } from './integrity-alarms.js';
import type { IntegrityMonitor, VerificationResult } from './integrity-monitor.js';
import type { ConsoleSources } from './sources.js';

/** A verification as the page shows it. */
export interface VerificationView {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly verified: boolean;
  /** Records verified (seq 1..size). */
  readonly size: number;
  readonly rootHash?: string;
  readonly chainHead?: string;
  /** The checkpoint whose root was checked in the same pass. */
  readonly checkpoint?: { readonly size: number; readonly rootHash: string };
  readonly firstBroken?: { readonly seq: number; readonly reason: string };
}

export function verificationView(result: VerificationResult): VerificationView {
  const { statement } = result;
  return {
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    durationMs: result.durationMs,
    verified: statement.verified,
    size: statement.size,
    ...(statement.rootHash === undefined ? {} : { rootHash: statement.rootHash }),
    ...(statement.chainHead === undefined ? {} : { chainHead: statement.chainHead }),
    ...(statement.checkpoint === undefined
      ? {}
      : { checkpoint: { size: statement.checkpoint.size, rootHash: statement.checkpoint.rootHash } }),
    ...(statement.firstBroken === undefined ? {} : { firstBroken: statement.firstBroken }),
  };
}

interface Cosigned {
  readonly witness: string;
  readonly time: string;
  readonly ageSeconds: number;
}

export interface IntegrityState {
  readonly now: string;
  /** The log as stored now: records and the hash of the last one. */
  readonly log: { readonly size: number; readonly chainHead?: string };
  /** The latest persisted signed checkpoint, with the cosignatures stored for it. */
  readonly checkpoint?: {
    readonly origin: string;
    readonly size: number;
    readonly rootHash: string;
    readonly noteText: string;
    readonly signedBy: readonly string[];
    readonly createdAt: string;
    readonly ageSeconds: number;
    readonly cosignatures: readonly Cosigned[];
  };
  /** The transparency rules (audit.log); absent when this service runs without checkpoints. */
  readonly rules?: {
    readonly checkpointIntervalSeconds: number;
    readonly quorum: number;
    readonly requireCosignatureWithinSeconds?: number;
    readonly staleAfterSeconds: number;
    readonly staleBasis: 'configured' | 'default';
    /** Seconds since a quorum had cosigned. */
    readonly quorumAgeSeconds?: number;
    /** ok, unwitnessed (the fail-closed rule refuses releases), errors (a witness refuses us). */
    readonly witnessHealth?: string;
  };
  readonly witnesses: readonly {
    readonly name: string;
    readonly url: string;
    readonly newest?: { readonly size: number; readonly time: string; readonly ageSeconds: number };
    readonly lastOutcome?: string;
    readonly failures: number;
    readonly stale: boolean;
  }[];
  readonly verifying: boolean;
  readonly lastVerification?: VerificationView;
  readonly alarms: readonly Alarm[];
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

export async function integrityState(
  sources: ConsoleSources,
  monitor: IntegrityMonitor,
  watchingSinceSeconds: number,
  nowMs: number = Date.now(),
): Promise<IntegrityState> {
  const nowSeconds = Math.floor(nowMs / 1000);
  const { store, transparency } = sources;
  const [tail, latest] = await Promise.all([store.auditTail(), store.latestCheckpoint()]);
  const cosignatures = latest === undefined ? [] : await store.listCosignatures(latest.size);
  const witnesses = transparency?.witnessStates() ?? [];
  const health = transparency?.witnessHealth();
  const last = monitor.last();
  const input: AlarmInput = {
    nowSeconds,
    watchingSinceSeconds,
    settings: transparency?.settings,
    witnesses,
    witnessHealth: health,
    latestCheckpointSize: latest?.size,
    lastVerification: last,
  };
  let checkpoint: IntegrityState['checkpoint'];
  if (latest !== undefined) {
    const signed = checkpointOf(latest, cosignatures).checkpoint;
    if (signed !== undefined) {
      checkpoint = {
        ...signed,
        createdAt: latest.createdAt,
        ageSeconds: Math.max(0, nowSeconds - Math.floor(Date.parse(latest.createdAt) / 1000)),
        cosignatures: cosignatures.map((c) => ({
          witness: c.witnessName,
          time: iso(c.timestamp),
          ageSeconds: nowSeconds - c.timestamp,
        })),
      };
    }
  }
  let rules: IntegrityState['rules'];
  if (transparency !== undefined) {
    const { settings } = transparency;
    const rule = staleRule(settings);
    const quorumAge = transparency.quorumAgeSeconds();
    rules = {
      checkpointIntervalSeconds: settings.checkpointIntervalSeconds,
      quorum: settings.quorum,
      ...(settings.requireCosignatureWithinSeconds === undefined
        ? {}
        : { requireCosignatureWithinSeconds: settings.requireCosignatureWithinSeconds }),
      staleAfterSeconds: rule.afterSeconds,
      staleBasis: rule.basis,
      ...(quorumAge === undefined ? {} : { quorumAgeSeconds: quorumAge }),
      ...(health === undefined ? {} : { witnessHealth: health }),
    };
  }
  return {
    now: new Date(nowMs).toISOString(),
    log: { size: tail?.seq ?? 0, ...(tail === undefined ? {} : { chainHead: tail.hash }) },
    ...(checkpoint === undefined ? {} : { checkpoint }),
    ...(rules === undefined ? {} : { rules }),
    witnesses: witnesses.map((w) => ({
      name: w.name,
      url: w.url,
      ...(w.newest === undefined
        ? {}
        : {
            newest: {
              size: w.newest.size,
              time: iso(w.newest.timestamp),
              ageSeconds: nowSeconds - w.newest.timestamp,
            },
          }),
      ...(w.lastOutcome === undefined ? {} : { lastOutcome: w.lastOutcome }),
      failures: w.failures,
      stale: isStale(input, w),
    })),
    verifying: monitor.running(),
    ...(last === undefined ? {} : { lastVerification: verificationView(last) }),
    alarms: integrityAlarms(input),
  };
}

export function registerIntegrityApi(
  route: ConsoleRouter,
  sources: ConsoleSources,
  monitor: IntegrityMonitor,
): void {
  const watchingSince = Math.floor(Date.now() / 1000);
  route(
    { method: 'GET', url: '/integrity', action: 'console.integrity.get', roles: READERS },
    ({ audited }) => audited({}, () => integrityState(sources, monitor, watchingSince)),
  );
  route(
    {
      method: 'POST',
      url: '/integrity/verify',
      action: 'console.integrity.verify',
      roles: READERS,
    },
    async ({ audited }) => ({
      verification: verificationView(await audited({}, () => monitor.verify())),
    }),
  );
}
