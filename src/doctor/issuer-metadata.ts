/**
 * Each configured token issuer as the service will see it: its OIDC discovery document (the `issuer` in it
 * exactly the configured string, a usable `jwks_uri`) and its key set (at least one public signing key for
 * each pinned algorithm). The same rules as src/auth/issuer-keys.ts, checked ahead of the first token.
 */
import { importJWK, type JWK } from 'jose';
import type { ResolvedIssuerConfig } from '../auth/config.js';
import { isFetchableUrl } from '../auth/loopback.js';
import { probe, type ProbeAnswer, type ProbeResult } from './http-probe.js';
import { finding, plural, type Finding } from './types.js';

export interface IssuerCheck {
  readonly finding: Finding;
  /** The first answer received from the issuer, for its clock. */
  readonly answer: ProbeAnswer | undefined;
}

type Fetched = { json: Record<string, unknown>; answer: ProbeAnswer } | { problem: string };

function fetched(url: string, result: ProbeResult): Fetched {
  if (!result.ok) return { problem: `GET ${url}: ${result.error}` };
  if (result.status !== 200) return { problem: `GET ${url} answered ${result.status}` };
  try {
    const json = JSON.parse(result.body) as unknown;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not an object');
    return { json: json as Record<string, unknown>, answer: result };
  } catch {
    return { problem: `GET ${url} did not answer a JSON object` };
  }
}

/** Algorithms a JWK can verify: by key type and curve, as jose will import it. */
function fitsAlgorithm(key: Record<string, unknown>, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return key.kty === 'RSA';
  if (alg === 'ES256') return key.kty === 'EC' && key.crv === 'P-256';
  if (alg === 'ES384') return key.kty === 'EC' && key.crv === 'P-384';
  if (alg === 'ES512') return key.kty === 'EC' && key.crv === 'P-521';
  if (alg === 'EdDSA') return key.kty === 'OKP' && key.crv === 'Ed25519';
  return false;
}

/** Public signature keys of the set usable for `alg` (importable, not marked for encryption, no private parts). */
async function usableKeys(keys: readonly unknown[], alg: string): Promise<number> {
  let count = 0;
  for (const member of keys) {
    if (typeof member !== 'object' || member === null) continue;
    const key = member as Record<string, unknown>;
    if (key.use === 'enc' || 'd' in key || 'k' in key || !fitsAlgorithm(key, alg)) continue;
    try {
      await importJWK(key as JWK, alg);
      count += 1;
    } catch {
      // malformed member: not usable
    }
  }
  return count;
}

export async function checkIssuer(config: ResolvedIssuerConfig, timeoutMs: number): Promise<IssuerCheck> {
  const id = `issuer:${config.issuer}`;
  const fail = (summary: string, fix: string, details: Record<string, unknown> = {}): IssuerCheck => ({
    finding: finding(id, 'fail', summary, fix, { issuer: config.issuer, ...details }),
    answer: firstAnswer,
  });
  let firstAnswer: ProbeAnswer | undefined;
  const get = async (url: string): Promise<Fetched> => {
    const result = await probe(url, {
      timeoutMs,
      headers: { accept: 'application/json, application/jwk-set+json' },
    });
    if (result.ok) firstAnswer ??= result;
    return fetched(url, result);
  };

  let jwksUri = config.jwksUri;
  if (jwksUri === undefined) {
    const discovery = await get(config.discoveryUrl);
    if ('problem' in discovery) {
      return fail(
        `discovery unreachable: ${discovery.problem}`,
        'the service must reach the identity provider: check the URL (issuers[].discoveryUrl), DNS, firewall and outbound proxy from the service machine',
        { discoveryUrl: config.discoveryUrl },
      );
    }
    const named = discovery.json.issuer;
    if (named !== config.issuer) {
      return fail(
        `discovery names issuer ${JSON.stringify(named)}, the config says ${JSON.stringify(config.issuer)}: tokens would be refused`,
        `set issuer to exactly ${JSON.stringify(named)} (mind a trailing slash; Entra v1 tokens use https://sts.windows.net/<tenant id>/, v2 tokens https://login.microsoftonline.com/<tenant id>/v2.0)`,
        { discoveryUrl: config.discoveryUrl, discoveryIssuer: named },
      );
    }
    const uri = discovery.json.jwks_uri;
    if (typeof uri !== 'string' || !isFetchableUrl(uri)) {
      return fail(
        `discovery has no usable jwks_uri (${JSON.stringify(uri)})`,
        'the identity provider must publish an https jwks_uri; or set issuers[].jwksUri',
        {
          discoveryUrl: config.discoveryUrl,
        },
      );
    }
    jwksUri = uri;
  }
  const jwks = await get(jwksUri);
  if ('problem' in jwks) {
    return fail(
      `key set unreachable: ${jwks.problem}`,
      'the service must reach the jwks_uri: check DNS, firewall and outbound proxy from the service machine',
      { jwksUri },
    );
  }
  const members = jwks.json.keys;
  if (!Array.isArray(members))
    return fail(
      `${jwksUri} is not a JWK set (no "keys" array)`,
      'check issuers[].jwksUri / the discovery document',
      { jwksUri },
    );
  const perAlgorithm: Record<string, number> = {};
  for (const alg of config.algorithms) perAlgorithm[alg] = await usableKeys(members as unknown[], alg);
  const usable = Object.values(perAlgorithm).reduce((sum, n) => sum + n, 0);
  const details = { issuer: config.issuer, jwksUri, keys: members.length, usableKeys: perAlgorithm };
  if (usable === 0) {
    return fail(
      `${jwksUri} has no signing key for ${config.algorithms.join(', ')}: every token would be refused`,
      `set issuers[].algorithms to what the provider signs with (Entra: RS256)`,
      details,
    );
  }
  const missing = config.algorithms.filter((alg) => perAlgorithm[alg] === 0);
  return {
    finding:
      missing.length > 0
        ? finding(
            id,
            'warn',
            `discovery and key set ok, but no key for ${missing.join(', ')}`,
            `remove ${missing.join(', ')} from issuers[].algorithms unless the provider will publish such keys`,
            details,
          )
        : finding(
            id,
            'ok',
            `discovery and key set ok (${plural(usable, 'usable signing key')})`,
            null,
            details,
          ),
    answer: firstAnswer,
  };
}
