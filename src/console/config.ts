/**
 * The `console` section of the configuration (docs/config.md, docs/console.md): off by default; when enabled,
 * the OIDC issuer and client the console signs users in with, which claim values make a user an admin or an
 * auditor, and how long a session lasts.
 */
import { DkeError } from '../errors/index.js';
import { isFetchableUrl } from '../auth/loopback.js';

export interface ConsoleConfig {
  readonly enabled: boolean;
  /** OIDC issuer identifier; its discovery document is `<issuer>/.well-known/openid-configuration`. */
  readonly issuer?: string;
  readonly clientId?: string;
  /** Confidential client: file holding the client secret. Without it the console is a public client (PKCE). */
  readonly clientSecretFile?: string;
  readonly scopes: readonly string[];
  /** The id_token claim holding role (or group) values: a string or an array of strings. */
  readonly roleClaim: string;
  /** Values of roleClaim that make a user a console admin (keys and policies). */
  readonly adminValues: readonly string[];
  /** Values of roleClaim that make a user an auditor (audit and reports, read-only). */
  readonly auditorValues: readonly string[];
  /** Claims naming the user, first present wins (shown, and recorded as the audit userName). */
  readonly userNameClaims: readonly string[];
  /** Lifetime of a session, minutes; then the user signs in again. */
  readonly sessionMinutes: number;
}

export const CONSOLE_DEFAULTS = {
  enabled: false,
  scopes: ['openid', 'profile', 'email'],
  roleClaim: 'roles',
  adminValues: [],
  auditorValues: [],
  userNameClaims: ['preferred_username', 'email'],
  sessionMinutes: 480,
} as const;

const claimValues = {
  type: 'array',
  maxItems: 100,
  items: { type: 'string', minLength: 1, maxLength: 256 },
} as const;

export const consoleConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: 'boolean', default: CONSOLE_DEFAULTS.enabled },
    issuer: { type: 'string', pattern: '^https?://[^?#@\\s]+$' },
    clientId: { type: 'string', minLength: 1, maxLength: 256 },
    clientSecretFile: { type: 'string', minLength: 1 },
    scopes: { ...claimValues, default: CONSOLE_DEFAULTS.scopes },
    roleClaim: { type: 'string', minLength: 1, maxLength: 256, default: CONSOLE_DEFAULTS.roleClaim },
    adminValues: { ...claimValues, default: CONSOLE_DEFAULTS.adminValues },
    auditorValues: { ...claimValues, default: CONSOLE_DEFAULTS.auditorValues },
    userNameClaims: { ...claimValues, minItems: 1, default: CONSOLE_DEFAULTS.userNameClaims },
    sessionMinutes: { type: 'integer', minimum: 5, maximum: 1440, default: CONSOLE_DEFAULTS.sessionMinutes },
  },
} as const;

function invalid(message: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', {
    message: `invalid configuration: ${message}`,
    hint: 'see docs/console.md',
  });
}

/** Checks beyond the schema, for an enabled console. */
export function checkConsoleConfig(config: ConsoleConfig, publicBaseUrl: string | undefined): void {
  if (!config.enabled) return;
  if (config.issuer === undefined) throw invalid('console.issuer is required when console.enabled');
  if (config.clientId === undefined) throw invalid('console.clientId is required when console.enabled');
  // Plain http only to a loopback issuer (the development issuer): anything else would expose the code.
  if (!isFetchableUrl(config.issuer)) throw invalid('console.issuer must be https (http only on loopback)');
  if (publicBaseUrl === undefined) {
    throw invalid(
      'server.publicBaseUrl is required when console.enabled (it makes the sign-in redirect URI)',
    );
  }
  if (!config.scopes.includes('openid')) throw invalid('console.scopes must include openid');
  if (config.adminValues.length === 0 && config.auditorValues.length === 0) {
    throw invalid('console.adminValues or console.auditorValues must name at least one value');
  }
  const both = config.adminValues.filter((value) => config.auditorValues.includes(value));
  if (both.length > 0) throw invalid(`console: ${both.join(', ')} is both an admin and an auditor value`);
}
