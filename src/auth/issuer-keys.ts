/**
 * One issuer's signing keys: OIDC discovery once, then a cached JWKS that is refreshed when it is old or when
 * a token names a key id it does not hold. Every fetch (successful or not) starts a cooldown, so a flood of
 * tokens with made-up key ids, or an issuer that is down, costs the issuer at most one request per cooldown.
 */
import {
  createLocalJWKSet,
  errors,
  type CryptoKey,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
} from 'jose';
import { DkeError } from '../errors/index.js';
import type { ResolvedIssuerConfig } from './config.js';
import { fetchJsonObject } from './fetch-json.js';
import { isFetchableUrl } from './loopback.js';

type LocalKeys = ReturnType<typeof createLocalJWKSet>;

/** Counters for tests and metrics. */
export interface IssuerKeyStats {
  discoveryFetches: number;
  jwksFetches: number;
}

function unavailable(detail: string): DkeError {
  return new DkeError('ERR_AUTH_INVALID', { message: 'token issuer keys unavailable', detail });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class IssuerKeys {
  readonly stats: IssuerKeyStats = { discoveryFetches: 0, jwksFetches: 0 };
  private jwksUri: string | undefined;
  private discovery: Promise<string> | undefined;
  private lastDiscoveryAttempt = Number.NEGATIVE_INFINITY;
  private lastDiscoveryError = '';
  private local: LocalKeys | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastFetchAttempt = Number.NEGATIVE_INFINITY;
  private lastFetchError = '';
  private pending: Promise<void> | undefined;
  private readonly cacheMs: number;
  private readonly cooldownMs: number;

  constructor(
    private readonly config: ResolvedIssuerConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.jwksUri = config.jwksUri;
    this.cacheMs = config.jwksCacheSeconds * 1000;
    this.cooldownMs = config.jwksCooldownSeconds * 1000;
  }

  /** The key for a token's header; shaped as jose's JWTVerifyGetKey. Throws DkeError ERR_AUTH_INVALID. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    await this.resolveJwksUri();
    if (!this.local || this.now() - this.fetchedAt >= this.cacheMs) await this.refresh();
    const local = this.local;
    // Past twice the cache lifetime with every refresh failing, old keys are no longer trusted (revocation).
    if (!local || this.now() - this.fetchedAt >= 2 * this.cacheMs) {
      throw unavailable(`no current key set for ${this.config.issuer}: ${this.lastFetchError}`);
    }
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.mayFetch()) throw error;
    }
    // An unknown key id may be a key the issuer rotated in since the last fetch.
    await this.refresh();
    const next = this.local;
    if (!next || next === local) {
      if (this.lastFetchError !== '')
        throw unavailable(`refreshing keys of ${this.config.issuer}: ${this.lastFetchError}`);
      throw new errors.JWKSNoMatchingKey();
    }
    return next(header, token);
  };

  private mayFetch(): boolean {
    return this.pending !== undefined || this.now() - this.lastFetchAttempt >= this.cooldownMs;
  }

  /** Fetches the key set unless a fetch is running (then joins it) or the cooldown has not passed. */
  private async refresh(): Promise<void> {
    if (!this.pending) {
      if (!this.mayFetch()) return;
      this.pending = this.fetchKeys().finally(() => {
        this.pending = undefined;
      });
    }
    await this.pending;
  }

  private async fetchKeys(): Promise<void> {
    const uri = this.jwksUri;
    if (uri === undefined) return;
    this.lastFetchAttempt = this.now();
    this.stats.jwksFetches += 1;
    try {
      const json = await fetchJsonObject(uri, this.config.fetchTimeoutMs);
      const members: unknown = json.keys;
      if (!Array.isArray(members)) throw new Error(`GET ${uri}: not a JWK set`);
      // Only public signature keys are of use; jose refuses the set if any member is malformed.
      const keys = (members as unknown[]).filter(
        (k): k is Record<string, unknown> =>
          typeof k === 'object' &&
          k !== null &&
          (k as { use?: unknown }).use !== 'enc' &&
          !('d' in k) &&
          !('k' in k),
      );
      this.local = createLocalJWKSet({ keys });
      this.fetchedAt = this.now();
      this.lastFetchError = '';
    } catch (error) {
      // Keep the previous keys: the caller decides whether they are still usable.
      this.lastFetchError = errorText(error);
    }
  }

  private async resolveJwksUri(): Promise<void> {
    if (this.jwksUri !== undefined) return;
    if (!this.discovery) {
      if (this.now() - this.lastDiscoveryAttempt < this.cooldownMs) {
        throw unavailable(`discovery for ${this.config.issuer} failed recently: ${this.lastDiscoveryError}`);
      }
      this.lastDiscoveryAttempt = this.now();
      this.discovery = this.discover().finally(() => {
        this.discovery = undefined;
      });
    }
    try {
      this.jwksUri = await this.discovery;
    } catch (error) {
      this.lastDiscoveryError = errorText(error);
      throw unavailable(`discovery for ${this.config.issuer} failed: ${this.lastDiscoveryError}`);
    }
  }

  private async discover(): Promise<string> {
    this.stats.discoveryFetches += 1;
    const url = this.config.discoveryUrl;
    const doc = await fetchJsonObject(url, this.config.fetchTimeoutMs);
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer we asked about.
    if (doc.issuer !== this.config.issuer) {
      throw new Error(
        `${url}: issuer ${JSON.stringify(doc.issuer)} is not ${JSON.stringify(this.config.issuer)}`,
      );
    }
    const jwksUri = doc.jwks_uri;
    if (typeof jwksUri !== 'string' || !isFetchableUrl(jwksUri)) {
      throw new Error(`${url}: jwks_uri ${JSON.stringify(jwksUri)} is missing or not an https URL`);
    }
    return jwksUri;
  }
}
