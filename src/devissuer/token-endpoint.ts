/**
 * DEVELOPMENT ONLY. The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) with client_secret_basic and
 * client_secret_post authentication; the audience comes from `audience` / `resource` (RFC 8707) or the
 * client's default.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface DevClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Claims put into every token of this client (sub, upn, preferred_username, groups, roles, ...). */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Audience used when the request names none. */
  readonly audience?: string;
}

/** An OAuth error answer (RFC 6749 §5.2). */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export interface TokenRequest {
  readonly client: DevClient;
  readonly audience: string;
  readonly scope: string | undefined;
}

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

/** Authenticates the client and checks the grant; returns what the token is to be issued for. */
export function checkTokenRequest(
  clients: ReadonlyMap<string, DevClient>,
  authorization: string | undefined,
  params: ReadonlyMap<string, string>,
  defaultAudience: string | undefined,
): TokenRequest {
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
  if (id === undefined || secret === undefined)
    throw new OAuthError(401, 'invalid_client', 'client authentication required');
  const client = clients.get(id);
  // Compare against a dummy for unknown clients too, so timing does not reveal which client ids exist.
  if (!secretsEqual(secret, client?.clientSecret ?? '\u0000unknown-client') || !client) {
    throw new OAuthError(401, 'invalid_client', 'client authentication failed');
  }

  const grantType = params.get('grant_type');
  if (grantType !== 'client_credentials') {
    throw new OAuthError(400, 'unsupported_grant_type', 'only grant_type=client_credentials is supported');
  }
  const audience = params.get('audience') ?? params.get('resource') ?? client.audience ?? defaultAudience;
  if (audience === undefined || audience.trim() === '') {
    throw new OAuthError(400, 'invalid_target', 'no audience: pass audience or resource');
  }
  return { client, audience, scope: params.get('scope') };
}
