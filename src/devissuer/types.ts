/** DEVELOPMENT ONLY. The development issuer's clients, users and OAuth error answers. */

export interface DevClient {
  readonly clientId: string;
  /** Without a secret the client is public: authorization code + PKCE only, no client credentials. */
  readonly clientSecret?: string;
  /** Where the authorization endpoint may send codes (exact match). */
  readonly redirectUris?: readonly string[];
  /** Claims put into every token of this client (sub, upn, preferred_username, groups, roles, ...). */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Audience used when the request names none. */
  readonly audience?: string;
}

/** A user who can sign in at the development issuer's login form. */
export interface DevUser {
  readonly username: string;
  readonly password: string;
  /** Claims put into this user's tokens (sub defaults to the user name; roles, groups, email, ...). */
  readonly claims?: Readonly<Record<string, unknown>>;
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
