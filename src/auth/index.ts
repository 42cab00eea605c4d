/** Bearer-token authentication of key-service callers (docs/auth.md). */
export { createAuthenticator, type OidcAuthenticator } from './authenticator.js';
export {
  ASYMMETRIC_ALGORITHMS,
  authConfigSchema,
  resolveAuthConfig,
  type AsymmetricAlgorithm,
  type AuthConfig,
  type IssuerConfig,
  type ResolvedAuthConfig,
  type ResolvedIssuerConfig,
} from './config.js';
export type { IssuerKeyStats } from './issuer-keys.js';
export { isLoopbackIp, isFetchableUrl } from './loopback.js';
export {
  MAX_REFUSED_SUBJECT_CHARS,
  RefusedTokenError,
  verifiedTokenOf,
  type VerifiedToken,
} from './refused-token.js';
