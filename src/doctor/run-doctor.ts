/**
 * `runDoctor`: every check against one running key service, gathered into one report (docs/doctor.md).
 * No CLI dependency, so the console's status page can run the same checks. Every network call has a
 * timeout and every failure becomes a finding: the function rejects only for unusable options.
 */
import { resolveAuthConfig, type ResolvedAuthConfig } from '../auth/config.js';
import type { ServiceConfig } from '../config/index.js';
import { DkeError, isDkeError } from '../errors/index.js';
import { checkChallenge, checkConfiguredAudience } from './audience.js';
import { checkAuditCheckpoint } from './audit-checkpoint.js';
import { checkIssuerClock, checkServiceClock, clockSample, type ClockSample } from './clock.js';
import { probe } from './http-probe.js';
import { checkIssuer } from './issuer-metadata.js';
import {
  isInventory,
  readAdminInventory,
  readStoreInventory,
  type InventoryProblem,
  type KeyInventory,
} from './key-inventory.js';
import { checkInventorySource, checkKeyStates } from './key-states.js';
import { checkMsDkeKeys } from './ms-dke-keys.js';
import { checkPublicUrl, labelUrl, resolvePublicUrl } from './public-url.js';
import { checkHealth, checkReachable } from './service-health.js';
import { checkCertificate } from './tls-certificate.js';
import { finding, type DoctorReport, type Finding, type FindingStatus } from './types.js';

export const DEFAULT_DOCTOR_TIMEOUT_MS = 5000;

export interface DoctorOptions {
  /** The service's configuration (as `dke serve` loads it): audience, issuers, store, public URL. */
  readonly config?: ServiceConfig;
  /** The public URL to check; default the config's server.publicBaseUrl. */
  readonly url?: string;
  /** MS DKE key names to check besides those the store or admin API lists. */
  readonly keyNames?: readonly string[];
  /** An admin bearer token for GET /admin/keys, used when the store cannot be read here. */
  readonly adminToken?: string;
  /** Extra trusted CA certificates (PEM) for the service's own certificate. */
  readonly ca?: string;
  /** Per network request; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Read the config's store (read-only) for key states and the audit log; default true. */
  readonly readStore?: boolean;
}

function resolveAuth(config: ServiceConfig | undefined): { auth?: ResolvedAuthConfig; finding?: Finding } {
  if (config === undefined) return {};
  if (config.auth === undefined) {
    return {
      finding: finding(
        'auth:config',
        'fail',
        'the config has no auth section: dke serve does not start without one',
        'add auth (audience, issuers): docs/auth.md',
      ),
    };
  }
  try {
    return { auth: resolveAuthConfig(config.auth) };
  } catch (error) {
    if (!isDkeError(error)) throw error;
    return {
      finding: finding('auth:config', 'fail', error.message, 'correct the auth section: docs/auth.md'),
    };
  }
}

async function readInventory(
  options: DoctorOptions,
  baseUrl: string,
  timeoutMs: number,
): Promise<{ inventory?: KeyInventory; problem?: InventoryProblem }> {
  let problem: InventoryProblem | undefined;
  if (options.config !== undefined && options.readStore !== false) {
    const fromStore = await readStoreInventory(options.config);
    if (isInventory(fromStore)) return { inventory: fromStore };
    problem = fromStore;
  }
  if (options.adminToken !== undefined) {
    const fromApi = await readAdminInventory(baseUrl, options.adminToken, {
      timeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    if (isInventory(fromApi)) return { inventory: fromApi };
    problem = fromApi;
  }
  return problem === undefined ? {} : { problem };
}

function countOf(findings: readonly Finding[]): Record<FindingStatus, number> {
  const counts: Record<FindingStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const f of findings) counts[f.status] += 1;
  return counts;
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const startedAt = new Date().toISOString();
  const timeoutMs = options.timeoutMs ?? DEFAULT_DOCTOR_TIMEOUT_MS;
  const baseUrl = resolvePublicUrl(options.config, options.url);
  if (baseUrl === undefined) {
    throw new DkeError('ERR_USAGE', { message: 'nothing to check: give the config file or the public URL' });
  }
  const ca = options.ca === undefined ? {} : { ca: options.ca };
  const findings: Finding[] = [checkPublicUrl(baseUrl, options.config)];
  const { auth, finding: authProblem } = resolveAuth(options.config);
  if (authProblem !== undefined) findings.push(authProblem);

  // Issuers do not depend on the service: fetch them meanwhile.
  const issuerChecks = Promise.all((auth?.issuers ?? []).map((issuer) => checkIssuer(issuer, timeoutMs)));
  issuerChecks.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile

  const health = await probe(`${baseUrl}/healthz`, { timeoutMs, inspectTls: true, ...ca });
  findings.push(checkReachable(baseUrl, health));
  const reachable = health.ok;
  if (health.ok && baseUrl.startsWith('https:'))
    findings.push(...checkCertificate(new URL(baseUrl), health.tls, Date.now()));
  findings.push(...checkHealth(health));
  const serviceClock: ClockSample | undefined = health.ok ? clockSample(health) : undefined;
  if (reachable) findings.push(checkServiceClock(serviceClock));

  const { inventory, problem } = await readInventory(options, baseUrl, timeoutMs);
  findings.push(checkInventorySource(inventory, problem));
  if (inventory !== undefined) findings.push(...checkKeyStates(inventory));

  const msDke = await checkMsDkeKeys(inventory, options.keyNames ?? [], {
    baseUrl,
    timeoutMs,
    ca: options.ca,
    serviceClockOffsetMs: serviceClock?.skewMs ?? 0,
    reachable,
  });
  findings.push(...msDke.findings);
  const { challengeKey, checkedNames } = msDke;

  const msDkeKeys =
    inventory === undefined ? undefined : inventory.keys.filter((k) => k.protocol === 'ms-dke').length;
  if (auth !== undefined) findings.push(checkConfiguredAudience(auth.audience, baseUrl, msDkeKeys));
  if (challengeKey !== undefined) {
    const answer = await probe(`${labelUrl(baseUrl, challengeKey.name)}/${challengeKey.keyId}/decrypt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      timeoutMs,
      inspectTls: true,
      ...ca,
    });
    findings.push(checkChallenge(answer, baseUrl, auth?.audience));
  } else if (checkedNames > 0 || auth === undefined) {
    // The challenge needs a key id the service serves: an enabled MS DKE key that answered.
    findings.push(
      finding(
        'audience:challenge',
        'skip',
        'the 401 challenge was not checked: no enabled MS DKE key answered with a key id',
        auth === undefined ? 'give --config, or --key <name> of an enabled MS DKE key' : null,
      ),
    );
  }

  for (const [index, checked] of (await issuerChecks).entries()) {
    const issuer = auth?.issuers[index];
    findings.push(checked.finding);
    if (issuer !== undefined) {
      const sample = checked.answer === undefined ? undefined : clockSample(checked.answer);
      findings.push(checkIssuerClock(issuer.issuer, sample, serviceClock, issuer.clockSkewSeconds));
    }
  }
  if (options.config === undefined) {
    findings.push(
      finding('issuer', 'skip', 'issuers not checked: they are in the config file', 'give --config'),
    );
  }

  if (reachable) {
    const checkpoint = await probe(`${baseUrl}/audit/checkpoint`, { timeoutMs, inspectTls: true, ...ca });
    findings.push(checkAuditCheckpoint(checkpoint, inventory?.audit));
  }

  const counts = countOf(findings);
  return { url: baseUrl, startedAt, findings, counts, ok: counts.fail === 0 };
}
