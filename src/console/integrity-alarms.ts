/**
 * The Integrity page's alarms (docs/console.md, "Integrity"), from what this process knows: each witness's
 * newest cosignature and last submission, the fail-closed rule, and the last verification of the log.
 *
 * When is a cosignature stale? With `audit.log.requireCosignatureWithinSeconds` set, when it is older than
 * that (the witness client re-asks at half of it, so a healthy witness never gets there). Without it,
 * witnesses are asked again only when the log has grown, so age alone means nothing on a quiet log: a
 * witness is stale when the log has a checkpoint newer than the witness's newest cosignature and that
 * cosignature is older than 2 x the checkpoint interval (a healthy witness cosigns within a round or two).
 * A witness that never cosigned is stale once a checkpoint exists and that long has passed since this
 * process started watching.
 */
import type { WitnessStatus } from '../audit/witness-client.js';
import type { WitnessHealth } from '../service/health.js';
import type { TransparencySettings } from '../service/log-transparency.js';
import type { VerificationResult } from './integrity-monitor.js';

export type AlarmKind = 'verification-failed' | 'not-witnessed' | 'stale-cosignature' | 'witness-failing';

export interface Alarm {
  readonly kind: AlarmKind;
  /** The witness it is about, for the witness alarms. */
  readonly witness?: string;
  readonly message: string;
}

export interface StaleRule {
  readonly afterSeconds: number;
  /** `configured`: audit.log.requireCosignatureWithinSeconds; `default`: 2 x checkpointIntervalSeconds. */
  readonly basis: 'configured' | 'default';
}

export function staleRule(settings: TransparencySettings): StaleRule {
  return settings.requireCosignatureWithinSeconds === undefined
    ? { afterSeconds: 2 * settings.checkpointIntervalSeconds, basis: 'default' }
    : { afterSeconds: settings.requireCosignatureWithinSeconds, basis: 'configured' };
}

export interface AlarmInput {
  readonly nowSeconds: number;
  /** When this process started watching (POSIX seconds). */
  readonly watchingSinceSeconds: number;
  readonly settings: TransparencySettings | undefined;
  readonly witnesses: readonly WitnessStatus[];
  readonly witnessHealth: WitnessHealth | undefined;
  /** The size of the latest persisted checkpoint, if any. */
  readonly latestCheckpointSize: number | undefined;
  readonly lastVerification: VerificationResult | undefined;
}

/** Whether this witness's cosignature is stale under the rule (see the module comment). */
export function isStale(input: AlarmInput, witness: WitnessStatus): boolean {
  if (input.settings === undefined || input.latestCheckpointSize === undefined) return false;
  const rule = staleRule(input.settings);
  const since = witness.newest?.timestamp ?? input.watchingSinceSeconds;
  const old = input.nowSeconds - since > rule.afterSeconds;
  if (rule.basis === 'configured') return old;
  return old && (witness.newest === undefined || witness.newest.size < input.latestCheckpointSize);
}

export function integrityAlarms(input: AlarmInput): Alarm[] {
  const alarms: Alarm[] = [];
  const statement = input.lastVerification?.statement;
  if (statement !== undefined && !statement.verified) {
    const broken = statement.firstBroken;
    alarms.push({
      kind: 'verification-failed',
      message:
        `the verification at ${input.lastVerification?.finishedAt ?? '?'} failed` +
        (broken === undefined ? '' : ` at record ${broken.seq}: ${broken.reason}`),
    });
  }
  if (input.witnessHealth === 'unwitnessed') {
    const quorum = input.settings?.quorum ?? 0;
    alarms.push({
      kind: 'not-witnessed',
      message: `no cosignature quorum (${quorum}) within the fail-closed limit: key releases are refused (ERR_NOT_WITNESSED)`,
    });
  }
  for (const witness of input.witnesses) {
    if (isStale(input, witness)) {
      const rule = staleRule(input.settings as TransparencySettings);
      const age =
        witness.newest === undefined
          ? 'has never cosigned a checkpoint'
          : `last cosigned ${input.nowSeconds - witness.newest.timestamp} s ago (size ${witness.newest.size})`;
      alarms.push({
        kind: 'stale-cosignature',
        witness: witness.name,
        message: `${witness.name} ${age}; stale after ${rule.afterSeconds} s (${rule.basis === 'configured' ? 'requireCosignatureWithinSeconds' : '2 x the checkpoint interval'})`,
      });
    }
    const outcome = witness.lastOutcome;
    if (outcome !== undefined && outcome !== 'cosigned' && outcome !== 'store_busy') {
      alarms.push({
        kind: 'witness-failing',
        witness: witness.name,
        message: `${witness.name}: last submission ${outcome.replace(/_/g, ' ')} (${witness.failures} failed in a row)`,
      });
    }
  }
  return alarms;
}
