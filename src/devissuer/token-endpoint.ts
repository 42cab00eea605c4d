/**
 * DEVELOPMENT ONLY. The token endpoint's checks: the client-credentials grant (RFC 6749 §4.4) for
 * confidential clients (client_secret_basic, client_secret_post), and the authorization-code grant
 * (§4.1.3) with PKCE for public clients (client_id only) and confidential ones. The audience of access
 * tokens comes from `audience` / `resource` (RFC 8707) or the client's default.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { verifierMatches, type CodeStore, type PendingCode } from './authorize.js';
import { OAuthError, type DevClient } from './types.js';

export { OAuthError, type DevClient };

function secretsEqual(a: string, b: string): boolean {
  // Comparing digests keeps the comparison constant-time whatever the lengths.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Form parameters; a parameter given twice is an error (RFC 6749 §3.2). */
export function parseForm(body: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (params.has(name))
      throw new OAuthError(400, 'invalid_request', `parameter ${name} given more than once`);
    params.set(name, value);
  }
  return params;
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match?.[1]) throw new OAuthError(401, 'invalid_client', 'malformed Authorization header');
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError(401, 'invalid_client', 'malformed Basic credentials');
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined.
  const decode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError(401, 'invalid_client', 'malformed Basic credentials');
  }
}

/** A client-credentials grant: what the access token is to be issued for. */
export interface TokenRequest {
  readonly grant: 'client_credentials';
  readonly client: DevClient;
  readonly audience: string;
  readonly scope: string | undefined;
}

/** An authorization-code grant whose code, redirect URI and PKCE verifier all matched. */
export interface CodeTokenRequest {
  readonly grant: 'authorization_code';
  readonly client: DevClient;
  readonly audience: string | undefined;
  readonly code: PendingCode;
}

/** The client the request authenticates as (a public client: by client_id alone). */
function authenticateClient(
  clients: ReadonlyMap<string, DevClient>,
  authorization: string | undefined,
  params: ReadonlyMap<string, string>,
): DevClient {
  const basic = basicCredentials(authorization);
  const postId = params.get('client_id');
  const postSecret = params.get('client_secret');
  if (basic && postSecret !== undefined) {
    throw new OAuthError(400, 'invalid_request', 'use one client authentication method, not two');
  }
  const id = basic?.id ?? postId;
  const secret = basic?.secret ?? postSecret;
  if (basic && postId !== undefined && postId !== basic.id) {
    throw new OAuthError(400, 'invalid_request', 'client_id does not match the Basic credentials');
  }
  if (id === undefined) throw new OAuthError(401, 'invalid_client', 'client authentication required');
  const client = clients.get(id);
  if (client !== undefined && client.clientSecret === undefined && secret === undefined) return client;
  if (secret === undefined) throw new OAuthError(401, 'invalid_client', 'client authentication required');
  // Compare against a dummy for unknown clients too, so timing does not reveal which client ids exist.
  if (!secretsEqual(secret, client?.clientSecret ?? '\u0000unknown-client') || !client) {
    throw new OAuthError(401, 'invalid_client', 'client authentication failed');
  }
  return client;
}

/** Authenticates the client and checks the grant; returns what the token is to be issued for. */
export function checkTokenRequest(
  clients: ReadonlyMap<string, DevClient>,
  authorization: string | undefined,
  params: ReadonlyMap<string, string>,
  defaultAudience: string | undefined,
  codes?: CodeStore,
): TokenRequest | CodeTokenRequest {
  const client = authenticateClient(clients, authorization, params);
  const grantType = params.get('grant_type');
  if (grantType === 'authorization_code' && codes !== undefined) {
    // Taken (so spent) before anything else is checked: a code is good for one attempt only.
    const code = codes.take(params.get('code') ?? '');
    if (code === undefined || code.clientId !== client.clientId) {
      throw new OAuthError(400, 'invalid_grant', 'unknown, expired or already used code');
    }
    if (params.get('redirect_uri') !== code.redirectUri) {
      throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
    }
    if (!verifierMatches(params.get('code_verifier'), code.codeChallenge)) {
      throw new OAuthError(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
    }
    return { grant: 'authorization_code', client, audience: client.audience ?? defaultAudience, code };
  }
  if (grantType !== 'client_credentials') {
    throw new OAuthError(
      400,
      'unsupported_grant_type',
      'only grant_type=client_credentials and authorization_code are supported',
    );
  }
  if (client.clientSecret === undefined) {
    throw new OAuthError(400, 'unauthorized_client', 'a public client cannot use client credentials');
  }
  const audience = params.get('audience') ?? params.get('resource') ?? client.audience ?? defaultAudience;
  if (audience === undefined || audience.trim() === '') {
    throw new OAuthError(400, 'invalid_target', 'no audience: pass audience or resource');
  }
  return { grant: 'client_credentials', client, audience, scope: params.get('scope') };
}
