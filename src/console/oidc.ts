/**
 * The console's OpenID Connect relying party (openid-client): authorization code + PKCE (S256), state and
 * nonce, id_token signature checked against the issuer's JWKS (enableNonRepudiationChecks) as well as TLS.
 * Discovery happens at the first sign-in and is kept; a failure is retried at the next one, so the key
 * service starts (and serves keys) while the identity provider is away.
 */
import * as oidc from 'openid-client';
import { readFileSync } from 'node:fs';
import { DkeError } from '../errors/index.js';
import type { ConsoleConfig } from './config.js';
import type { LoginState } from './session.js';

export interface SignInStart {
  readonly url: URL;
  readonly login: LoginState;
}

export interface ConsoleOidc {
  /** The issuer's authorization URL and the state to keep in the login cookie. */
  begin(): Promise<SignInStart>;
  /** Exchanges the callback's code; returns the verified id_token claims. */
  finish(callbackUrl: URL, login: LoginState): Promise<Readonly<Record<string, unknown>>>;
}

function readSecret(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: `cannot read console.clientSecretFile ${file}`,
      detail: cause instanceof Error ? cause.message : String(cause),
      cause,
    });
  }
}

export function createConsoleOidc(config: ConsoleConfig, redirectUri: string): ConsoleOidc {
  const issuer = config.issuer ?? '';
  const clientId = config.clientId ?? '';
  const secret = config.clientSecretFile === undefined ? undefined : readSecret(config.clientSecretFile);
  const insecure = new URL(issuer).protocol === 'http:'; // loopback only (checkConsoleConfig)
  let configuration: Promise<oidc.Configuration> | undefined;

  function discovered(): Promise<oidc.Configuration> {
    configuration ??= oidc
      .discovery(
        new URL(issuer),
        clientId,
        undefined,
        secret === undefined ? oidc.None() : oidc.ClientSecretPost(secret),
        {
          execute: [...(insecure ? [oidc.allowInsecureRequests] : []), oidc.enableNonRepudiationChecks],
          timeout: 10,
        },
      )
      .catch((cause: unknown) => {
        configuration = undefined;
        throw new DkeError('ERR_CONSOLE_ISSUER_UNAVAILABLE', {
          detail: `discovery of ${issuer} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause,
        });
      });
    return configuration;
  }

  return {
    async begin() {
      const config_ = await discovered();
      const login = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        verifier: oidc.randomPKCECodeVerifier(),
      };
      const url = oidc.buildAuthorizationUrl(config_, {
        redirect_uri: redirectUri,
        scope: config.scopes.join(' '),
        code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier),
        code_challenge_method: 'S256',
        state: login.state,
        nonce: login.nonce,
      });
      return { url, login };
    },
    async finish(callbackUrl, login) {
      const config_ = await discovered();
      try {
        const tokens = await oidc.authorizationCodeGrant(config_, callbackUrl, {
          pkceCodeVerifier: login.verifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        if (claims === undefined) throw new Error('no id_token claims');
        return claims;
      } catch (cause) {
        throw new DkeError('ERR_CONSOLE_SIGNIN_FAILED', {
          detail: cause instanceof Error ? cause.message : String(cause),
          cause,
        });
      }
    },
  };
}
