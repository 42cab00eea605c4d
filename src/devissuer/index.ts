/** DEVELOPMENT ONLY: a loopback-only OIDC issuer for demos and tests (docs/auth.md). */
export { startDevIssuer, type DevIssuer, type DevIssuerOptions, type DevIssuerStats } from './server.js';
export type { DevClient, DevUser } from './types.js';
export type { DevSigningAlg } from './keys.js';
export type { SignTokenOptions } from './sign.js';
