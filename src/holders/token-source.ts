/** Where a remote holder gets its bearer token: a fixed token, or the OAuth 2.0 client-credentials grant. */
import { DkeError } from '../errors/index.js';
import { requestJson } from './http-json.js';

export interface TokenSource {
  getToken(keyUrl: string): Promise<string>;
}

export function staticToken(token: string): TokenSource {
  const trimmed = token.trim();
  if (trimmed === '') throw new DkeError('ERR_USAGE', { message: 'the bearer token is empty' });
  return { getToken: () => Promise.resolve(trimmed) };
}

export interface ClientCredentialsConfig {
  /** The issuer; its token endpoint comes from OIDC discovery unless tokenEndpoint is given. */
  readonly issuer: string;
  readonly tokenEndpoint?: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Audience (resource) of the key service. */
  readonly audience: string;
  readonly scope?: string;
}

/** Client-credentials grant (RFC 6749 §4.4) with client_secret_basic; caches the token until near expiry. */
export function clientCredentials(config: ClientCredentialsConfig): TokenSource {
  let cached: { token: string; expiresAt: number } | undefined;
  return {
    async getToken(): Promise<string> {
      if (cached !== undefined && Date.now() < cached.expiresAt) return cached.token;
      const endpoint = config.tokenEndpoint ?? (await discoverTokenEndpoint(config.issuer));
      const form: Record<string, string> = { grant_type: 'client_credentials', audience: config.audience };
      if (config.scope !== undefined) form.scope = config.scope;
      const answer = await requestJson<{ access_token?: unknown; expires_in?: unknown }>(endpoint, {
        method: 'POST',
        form,
        basicAuth: { user: config.clientId, password: config.clientSecret },
      });
      if (typeof answer.access_token !== 'string')
        throw new DkeError('ERR_REMOTE_PROTOCOL', { message: 'token endpoint sent no access_token' });
      const lifetime = typeof answer.expires_in === 'number' ? answer.expires_in : 60;
      cached = { token: answer.access_token, expiresAt: Date.now() + Math.max(0, lifetime - 30) * 1000 };
      return cached.token;
    },
  };
}

async function discoverTokenEndpoint(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const doc = await requestJson<{ token_endpoint?: unknown; issuer?: unknown }>(url, { method: 'GET' });
  if (typeof doc.token_endpoint !== 'string')
    throw new DkeError('ERR_REMOTE_PROTOCOL', { message: `${url} names no token_endpoint` });
  return doc.token_endpoint;
}
