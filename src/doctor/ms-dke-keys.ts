/**
 * Each MS DKE key as Office meets it: GET <label URL> answered in the exact shape (src/doctor/ms-dke-answer.ts),
 * and the label URL to put in the sensitivity label printed with it.
 */
import type { KeyInventory, KeySummary } from './key-inventory.js';
import { probe } from './http-probe.js';
import { checkKeyAnswer } from './ms-dke-answer.js';
import { labelUrl } from './public-url.js';
import { finding, plural, worse, type Finding, type FindingStatus } from './types.js';

export interface KeyProbeOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly ca?: string | undefined;
  /** ms to add to the local clock to get the service's (from its Date header). */
  readonly serviceClockOffsetMs: number;
}

export interface MsDkeKeyCheck {
  readonly finding: Finding;
  /** The key id served, when the answer was good enough to read one. */
  readonly keyId: string | undefined;
}

export async function checkMsDkeKey(
  name: string,
  known: KeySummary | undefined,
  options: KeyProbeOptions,
): Promise<MsDkeKeyCheck> {
  const id = `ms-dke-key:${name}`;
  const label = labelUrl(options.baseUrl, name);
  const answer = await probe(label, {
    timeoutMs: options.timeoutMs,
    inspectTls: true,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  if (!answer.ok) {
    return {
      keyId: undefined,
      finding: finding(
        id,
        'fail',
        `GET ${label}: ${answer.error}`,
        'check that the label URL reaches the service',
        { labelUrl: label },
      ),
    };
  }
  const report = checkKeyAnswer(
    {
      status: answer.status,
      contentType: answer.headers['content-type'],
      location: answer.headers.location,
      body: answer.body,
    },
    {
      keyName: name,
      baseUrl: options.baseUrl,
      now: Date.now() + options.serviceClockOffsetMs,
      activeKeyId: known?.activeKeyId,
    },
  );
  const details = {
    labelUrl: label,
    status: answer.status,
    keyId: report.keyId,
    modulusBits: report.modulusBits,
    exponent: report.exponent,
    cacheExp: report.cacheExp ?? null,
    problems: report.problems,
  };
  if (known?.state === 'disabled') {
    // Expected: a disabled key answers an empty 403 (docs/ms-dke.md); the key-state finding says why.
    return {
      keyId: undefined,
      finding:
        answer.status === 403
          ? finding(
              id,
              'warn',
              `${label}: disabled, answers 403 as expected; Office cannot encrypt to it`,
              `dke key enable ${name} -c <config> if that is not deliberate`,
              details,
            )
          : finding(
              id,
              'fail',
              `${label}: the store says disabled, but the service answers ${answer.status}`,
              'the running service uses another store than the config names: check store.database and restart it',
              details,
            ),
    };
  }
  if (report.problems.length === 0) {
    const cache =
      report.cacheExp === undefined
        ? 'no cache: Office asks on every encryption'
        : `cache until ${report.cacheExp} UTC`;
    return {
      keyId: report.keyId,
      finding: finding(
        id,
        'ok',
        `label URL ${label} (RSA-${report.modulusBits ?? '?'}, ${cache})`,
        null,
        details,
      ),
    };
  }
  const status = report.problems.reduce<FindingStatus>((s, p) => worse(s, p.status), 'ok');
  const first = report.problems.find((p) => p.status === status) ?? report.problems[0];
  const more = report.problems.length > 1 ? ` (+${report.problems.length - 1} more)` : '';
  return {
    keyId: report.keyId,
    finding: finding(id, status, `${label}: ${first?.text ?? 'problem'}${more}`, first?.fix ?? null, details),
  };
}

export interface MsDkeKeysResult {
  readonly findings: readonly Finding[];
  /** An enabled key that answered with its key id: where the decrypt route's challenge can be asked for. */
  readonly challengeKey: { readonly name: string; readonly keyId: string } | undefined;
  /** How many keys were to be checked. */
  readonly checkedNames: number;
}

/** The MS DKE keys to check: the inventory's (destroyed ones aside) and those named by the caller. */
export function msDkeKeyNames(inventory: KeyInventory | undefined, named: readonly string[]): string[] {
  const listed = (inventory?.keys ?? [])
    .filter((k) => k.protocol === 'ms-dke' && k.state !== 'destroyed')
    .map((k) => k.name);
  return [...new Set([...listed, ...named])];
}

/** Every MS DKE key, one after the other (a handful per service; no need to load it in parallel). */
export async function checkMsDkeKeys(
  inventory: KeyInventory | undefined,
  named: readonly string[],
  options: KeyProbeOptions & { readonly reachable: boolean },
): Promise<MsDkeKeysResult> {
  const names = msDkeKeyNames(inventory, named);
  if (names.length === 0) {
    const none =
      inventory === undefined
        ? finding(
            'ms-dke-key',
            'skip',
            'no MS DKE key checked: key names unknown',
            'give --key <name> (or store or admin access, see "keys")',
          )
        : finding('ms-dke-key', 'ok', 'no ms-dke keys: nothing for Office to use', null);
    return { findings: [none], challengeKey: undefined, checkedNames: 0 };
  }
  if (!options.reachable) {
    const skipped = finding(
      'ms-dke-key',
      'skip',
      `${plural(names.length, 'MS DKE key')} not checked: the service is unreachable`,
      null,
      { labelUrls: names.map((n) => labelUrl(options.baseUrl, n)) },
    );
    return { findings: [skipped], challengeKey: undefined, checkedNames: names.length };
  }
  const known = new Map((inventory?.keys ?? []).map((key) => [key.name, key]));
  const findings: Finding[] = [];
  let challengeKey: MsDkeKeysResult['challengeKey'];
  for (const name of names) {
    const checked = await checkMsDkeKey(name, known.get(name), options);
    findings.push(checked.finding);
    if (challengeKey === undefined && checked.keyId !== undefined)
      challengeKey = { name, keyId: checked.keyId };
  }
  return { findings, challengeKey, checkedNames: names.length };
}
