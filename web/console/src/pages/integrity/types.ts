/** What the Integrity page's endpoints answer (src/console/integrity-api.ts). */

export interface VerificationView {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly verified: boolean;
  readonly size: number;
  readonly rootHash?: string;
  readonly chainHead?: string;
  readonly checkpoint?: { readonly size: number; readonly rootHash: string };
  readonly firstBroken?: { readonly seq: number; readonly reason: string };
}

export interface Alarm {
  readonly kind: 'verification-failed' | 'not-witnessed' | 'stale-cosignature' | 'witness-failing';
  readonly witness?: string;
  readonly message: string;
}

export interface IntegrityState {
  readonly now: string;
  readonly log: { readonly size: number; readonly chainHead?: string };
  readonly checkpoint?: {
    readonly origin: string;
    readonly size: number;
    readonly rootHash: string;
    readonly noteText: string;
    readonly signedBy: readonly string[];
    readonly createdAt: string;
    readonly ageSeconds: number;
    readonly cosignatures: readonly {
      readonly witness: string;
      readonly time: string;
      readonly ageSeconds: number;
    }[];
  };
  readonly rules?: {
    readonly checkpointIntervalSeconds: number;
    readonly quorum: number;
    readonly requireCosignatureWithinSeconds?: number;
    readonly staleAfterSeconds: number;
    readonly staleBasis: 'configured' | 'default';
    readonly quorumAgeSeconds?: number;
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
