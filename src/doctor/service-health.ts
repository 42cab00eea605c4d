/**
 * Reachability of the service at its public URL (GET /healthz), and what /healthz says about the store,
 * the witnesses of the audit log and a PKCS#11 token (src/service/health.ts).
 */
import type { ProbeResult } from './http-probe.js';
import { finding, type Finding } from './types.js';

export function checkReachable(url: string, answer: ProbeResult): Finding {
  if (!answer.ok) {
    return finding(
      'service:reachable',
      'fail',
      `${url}/healthz cannot be reached: ${answer.error}`,
      'is dke serve running, and is the URL right? Check DNS, the firewall, the proxy and server.host/port (0.0.0.0 to listen on every interface)',
      { url, error: answer.error, code: answer.code },
    );
  }
  return finding(
    'service:reachable',
    'ok',
    `${url} answers (GET /healthz: ${answer.status}, ${answer.receivedAt - answer.sentAt} ms)`,
    null,
    {
      url,
      status: answer.status,
      ms: answer.receivedAt - answer.sentAt,
    },
  );
}

interface HealthBody {
  readonly status?: unknown;
  readonly store?: unknown;
  readonly witnesses?: unknown;
  readonly token?: unknown;
}

function parseHealth(body: string): HealthBody | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

const STORE: Readonly<Record<string, Pick<Finding, 'status' | 'summary' | 'fix'>>> = {
  ok: { status: 'ok', summary: 'store ok', fix: null },
  locked: {
    status: 'warn',
    summary: 'store locked by another process: requests wait for it (up to store.lockWaitMs), then fail 503',
    fix: 'a dke key command or a backup holds the write lock; if it lasts, find it (fuser/lsof on the database file) and stop it',
  },
  unavailable: {
    status: 'fail',
    summary: 'store unavailable: every request that needs it fails 503',
    fix: 'the service cannot reach its database: check PostgreSQL (is it up, reachable, the password file readable?) and the service log; it recovers by itself',
  },
};

const WITNESSES: Readonly<Record<string, Pick<Finding, 'status' | 'summary' | 'fix'>>> = {
  ok: { status: 'ok', summary: 'audit log witnesses ok', fix: null },
  unwitnessed: {
    status: 'fail',
    summary:
      'too few witnesses cosigned the audit log recently: releases are refused (503 ERR_NOT_WITNESSED)',
    fix: 'check that the witnesses in audit.log.witnesses are up and reachable from the service, and the service log for their answers (docs/audit.md "The fail-closed rule")',
  },
  errors: {
    status: 'warn',
    summary: 'a witness refuses our checkpoints or answers with a bad cosignature',
    fix: "compare audit.log.witnesses[].vkey with the witness's key (dke audit witness-key on its side) and read the service log",
  },
};

/** Findings from a /healthz answer; none when the service was not reached (the reachability finding says so). */
export function checkHealth(answer: ProbeResult): Finding[] {
  if (!answer.ok) return [];
  const health = parseHealth(answer.body);
  if (answer.status === 404) {
    // A proxy may expose only the key routes: not a fault, but the store's health stays unknown.
    return [
      finding(
        'health:store',
        'warn',
        'GET /healthz answered 404: store health unknown (does the proxy forward only the key routes?)',
        'let the proxy forward /healthz (for monitoring too), or run doctor against the service directly with --url',
      ),
    ];
  }
  if (health === undefined || typeof health.store !== 'string') {
    return [
      finding(
        'health:store',
        'fail',
        `GET /healthz answered ${answer.status} without a health report: is this an OpenDKE key service?`,
        'check that the URL reaches dke serve (a proxy serving something else at that path?)',
      ),
    ];
  }
  const store = STORE[health.store] ?? {
    status: 'fail',
    summary: `store state ${health.store}`,
    fix: 'read the service log',
  };
  const findings = [
    finding('health:store', store.status, store.summary, store.fix, {
      status: health.status,
      store: health.store,
    }),
  ];
  if (typeof health.witnesses === 'string') {
    const w = WITNESSES[health.witnesses] ?? {
      status: 'warn',
      summary: `witness state ${health.witnesses}`,
      fix: 'read the service log',
    };
    findings.push(finding('health:witnesses', w.status, w.summary, w.fix, { witnesses: health.witnesses }));
  }
  if (typeof health.token === 'string') {
    findings.push(
      health.token === 'ready'
        ? finding('health:token', 'ok', 'PKCS#11 token ready', null, { token: health.token })
        : finding(
            'health:token',
            'warn',
            `PKCS#11 token ${health.token}: keys in the token answer 503 until it is back`,
            'check the token (device plugged in, PIN file, module path; docs/hsm.md); the service reconnects by itself',
            { token: health.token },
          ),
    );
  }
  return findings;
}
