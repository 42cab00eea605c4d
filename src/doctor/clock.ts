/**
 * Clock skew from HTTP `Date` headers: this machine against the service, and the service against each
 * token issuer. The service checks `exp`/`nbf`/`iat` of tokens with the issuer's `clockSkewSeconds`
 * (default 60 s) of tolerance, so a service and issuer further apart refuse valid tokens or accept expired
 * ones. `Date` has whole seconds, so every estimate carries half a second plus half the round trip.
 */
import type { ProbeAnswer } from './http-probe.js';
import { finding, type Finding } from './types.js';

/** Beyond this (after the measurement's uncertainty) clocks are worth a warning. */
export const CLOCK_WARN_SECONDS = 10;

export interface ClockSample {
  /** Remote clock minus local clock, ms. */
  readonly skewMs: number;
  /** How far off the estimate may be, ms. */
  readonly uncertaintyMs: number;
}

/** The skew an answer's Date header shows, or undefined without a readable Date header. */
export function clockSample(
  answer: Pick<ProbeAnswer, 'headers' | 'sentAt' | 'receivedAt'>,
): ClockSample | undefined {
  const date = answer.headers.date;
  if (date === undefined) return undefined;
  const remote = Date.parse(date);
  if (Number.isNaN(remote)) return undefined;
  const midpoint = (answer.sentAt + answer.receivedAt) / 2;
  // The header truncates to the second: the remote clock read somewhere in [remote, remote + 1000).
  return { skewMs: remote + 500 - midpoint, uncertaintyMs: 500 + (answer.receivedAt - answer.sentAt) / 2 };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** How far apart two clocks are at least (ms), given their estimates. */
function leastApart(difference: number, uncertainty: number): number {
  return Math.max(0, Math.abs(difference) - uncertainty);
}

export function checkServiceClock(sample: ClockSample | undefined): Finding {
  if (sample === undefined) {
    return finding(
      'clock:service',
      'skip',
      'the service sent no Date header: its clock was not compared',
      null,
    );
  }
  const apart = leastApart(sample.skewMs, sample.uncertaintyMs);
  const details = { skewSeconds: sample.skewMs / 1000, uncertaintySeconds: sample.uncertaintyMs / 1000 };
  const direction = sample.skewMs > 0 ? 'ahead of' : 'behind';
  if (apart > CLOCK_WARN_SECONDS * 1000) {
    return finding(
      'clock:service',
      'warn',
      `the service's clock is ${seconds(Math.abs(sample.skewMs))} ${direction} this machine's`,
      "one of the two clocks is wrong: synchronise both with NTP (chrony, systemd-timesyncd) and check with 'chronyc tracking'",
      details,
    );
  }
  return finding(
    'clock:service',
    'ok',
    `service clock within ${seconds(Math.abs(sample.skewMs) + sample.uncertaintyMs)} of this machine's`,
    null,
    details,
  );
}

/**
 * The issuer's clock against the service's (or, when the service's is unknown, this machine's); fails
 * beyond the issuer's configured tolerance, where valid tokens start being refused.
 */
export function checkIssuerClock(
  issuer: string,
  issuerSample: ClockSample | undefined,
  serviceSample: ClockSample | undefined,
  toleranceSeconds: number,
): Finding {
  const id = `clock:${issuer}`;
  if (issuerSample === undefined) {
    return finding(
      id,
      'skip',
      `${issuer} sent no Date header (or was not reached): its clock was not compared`,
      null,
    );
  }
  const against = serviceSample ?? { skewMs: 0, uncertaintyMs: 0 };
  const difference = issuerSample.skewMs - against.skewMs;
  const uncertainty = issuerSample.uncertaintyMs + against.uncertaintyMs;
  const apart = leastApart(difference, uncertainty);
  const reference = serviceSample === undefined ? "this machine's" : "the service's";
  const details = {
    differenceSeconds: difference / 1000,
    uncertaintySeconds: uncertainty / 1000,
    toleranceSeconds,
    comparedWith: serviceSample === undefined ? 'this machine' : 'service',
  };
  const direction = difference > 0 ? 'ahead of' : 'behind';
  const text = `the clock of ${issuer} is ${seconds(Math.abs(difference))} ${direction} ${reference}`;
  if (serviceSample !== undefined && apart > toleranceSeconds * 1000) {
    return finding(
      id,
      'fail',
      `${text}: more than the ${toleranceSeconds} s tokens are allowed, so valid tokens are refused (not yet valid / expired)`,
      "synchronise the service machine's clock with NTP (chrony, systemd-timesyncd); the identity provider's clock is normally right",
      details,
    );
  }
  if (apart > CLOCK_WARN_SECONDS * 1000) {
    return finding(
      id,
      'warn',
      text,
      'synchronise the clocks with NTP before the difference reaches the token tolerance',
      details,
    );
  }
  return finding(
    id,
    'ok',
    `${issuer}: clock within ${seconds(Math.abs(difference) + uncertainty)} of ${reference}`,
    null,
    details,
  );
}
