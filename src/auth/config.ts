/**
 * Configuration of bearer-token authentication (docs/auth.md): its TypeScript type, the JSON schema the
 * server's config file embeds under `auth`, and the resolver that checks it and fills in defaults.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { DkeError } from '../errors/index.js';
import { isFetchableUrl } from './loopback.js';

/** Signature algorithms an issuer may be pinned to: asymmetric only, so a public key can never be an HMAC secret. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** One trusted OIDC issuer, as written in the config file. */
export interface IssuerConfig {
  /** The exact `iss` value of its tokens. */
  issuer: string;
  /** Default: issuer (without trailing '/') + '/.well-known/openid-configuration'. */
  discoveryUrl?: string;
  /** The JWKS location; when given, discovery is skipped. */
  jwksUri?: string;
  /** Pinned allow list of token signature algorithms. */
  algorithms: AsymmetricAlgorithm[];
  /** Claims every token must carry (in addition to iss, aud, exp, sub). */
  requiredClaims?: string[];
  /** Tolerance for exp/nbf/iat, default 60, at most 300. */
  clockSkewSeconds?: number;
  /** Expected `tid` claim (Entra-like issuers); tokens of any other tenant are invalid. */
  tenantId?: string;
  /** Claims that carry a trusted user name, in order of preference. Default ['upn', 'preferred_username']. */
  userNameClaims?: string[];
  /** Whether this issuer's `email` claim is verified and may serve as a user name (docs/auth.md, nOAuth). */
  emailVerified?: boolean;
  /** Claim with the caller's groups (a dotted path reaches nested claims). Default 'groups'. */
  groupsClaim?: string;
  /** Claim with the caller's roles (a dotted path reaches nested claims). Default 'roles'. */
  rolesClaim?: string;
  /** Roles that make the caller an admin. */
  adminRoles?: string[];
  /** Groups that make the caller an admin. */
  adminGroups?: string[];
  /** How long a fetched key set is used before it is fetched again. Default 600. */
  jwksCacheSeconds?: number;
  /** Minimum time between two fetches of the key set (and of discovery). Default 30. */
  jwksCooldownSeconds?: number;
  /** Timeout of one discovery or key-set fetch. Default 5000. */
  fetchTimeoutMs?: number;
}

export interface AuthConfig {
  /** The exact audience (`aud`) tokens must be issued for. */
  audience: string;
  issuers: IssuerConfig[];
  /** Where clients obtain tokens, announced in WWW-Authenticate challenges. */
  challenge?: { authority: string };
}

/** An issuer with every default applied. */
export interface ResolvedIssuerConfig {
  readonly issuer: string;
  readonly discoveryUrl: string;
  readonly jwksUri: string | undefined;
  readonly algorithms: readonly AsymmetricAlgorithm[];
  readonly requiredClaims: readonly string[];
  readonly clockSkewSeconds: number;
  readonly tenantId: string | undefined;
  readonly userNameClaims: readonly string[];
  readonly emailVerified: boolean;
  readonly groupsClaim: string;
  readonly rolesClaim: string;
  readonly adminRoles: readonly string[];
  readonly adminGroups: readonly string[];
  readonly jwksCacheSeconds: number;
  readonly jwksCooldownSeconds: number;
  readonly fetchTimeoutMs: number;
}

export interface ResolvedAuthConfig {
  readonly audience: string;
  readonly issuers: readonly ResolvedIssuerConfig[];
  readonly challenge: { readonly authority: string } | undefined;
}

export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
export const MAX_CLOCK_SKEW_SECONDS = 300;
export const DEFAULT_USER_NAME_CLAIMS = ['upn', 'preferred_username'] as const;
export const DEFAULT_JWKS_CACHE_SECONDS = 600;
export const DEFAULT_JWKS_COOLDOWN_SECONDS = 30;
export const DEFAULT_FETCH_TIMEOUT_MS = 5000;

const nonBlank = { type: 'string', minLength: 1, maxLength: 2048, pattern: '\\S' } as const;
const claimName = { type: 'string', minLength: 1, maxLength: 256, pattern: '^\\S+$' } as const;
const stringList = { type: 'array', items: nonBlank, maxItems: 1000 } as const;

/** JSON schema (draft-07, Ajv) of AuthConfig; the server's config schema embeds it under `auth`. */
export const authConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['audience', 'issuers'],
  properties: {
    audience: nonBlank,
    issuers: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['issuer', 'algorithms'],
        properties: {
          issuer: nonBlank,
          discoveryUrl: nonBlank,
          jwksUri: nonBlank,
          algorithms: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { type: 'string', enum: [...ASYMMETRIC_ALGORITHMS] },
          },
          requiredClaims: { type: 'array', items: claimName, maxItems: 100 },
          clockSkewSeconds: { type: 'integer', minimum: 0, maximum: MAX_CLOCK_SKEW_SECONDS },
          tenantId: nonBlank,
          userNameClaims: { type: 'array', items: claimName, maxItems: 20 },
          emailVerified: { type: 'boolean' },
          groupsClaim: claimName,
          rolesClaim: claimName,
          adminRoles: stringList,
          adminGroups: stringList,
          jwksCacheSeconds: { type: 'number', minimum: 1, maximum: 86400 },
          jwksCooldownSeconds: { type: 'number', minimum: 0, maximum: 3600 },
          fetchTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000 },
        },
      },
    },
    challenge: {
      type: 'object',
      additionalProperties: false,
      required: ['authority'],
      properties: { authority: nonBlank },
    },
  },
} as const;

const validateSchema = new Ajv({ allErrors: true, strict: true }).compile(authConfigSchema);

function configError(where: string, why: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', { message: `invalid configuration: auth${where} ${why}` });
}

function describeSchemaError(error: ErrorObject): string {
  const where = error.instancePath.replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.');
  if (error.keyword === 'enum' && where.includes('.algorithms[')) {
    return `auth${where} must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} (symmetric and 'none' are not allowed)`;
  }
  if (error.keyword === 'additionalProperties') {
    return `auth${where} has unknown property '${String(error.params.additionalProperty)}'`;
  }
  return `auth${where} ${error.message ?? 'is invalid'}`;
}

function checkUrl(where: string, value: string | undefined): void {
  if (value !== undefined && !isFetchableUrl(value)) {
    throw configError(where, 'must be an https URL (http only to a loopback address)');
  }
}

function resolveIssuer(input: IssuerConfig, index: number): ResolvedIssuerConfig {
  const where = `.issuers[${index}]`;
  checkUrl(`${where}.issuer`, input.issuer);
  checkUrl(`${where}.discoveryUrl`, input.discoveryUrl);
  checkUrl(`${where}.jwksUri`, input.jwksUri);
  const userNameClaims = input.userNameClaims ?? [...DEFAULT_USER_NAME_CLAIMS];
  // `email` is trusted only through `emailVerified`, never as a plain user-name claim (nOAuth).
  if (userNameClaims.some((claim) => claim.toLowerCase() === 'email')) {
    throw configError(`${where}.userNameClaims`, "must not list 'email' (use emailVerified: true instead)");
  }
  return {
    issuer: input.issuer,
    discoveryUrl:
      input.discoveryUrl ?? `${input.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
    jwksUri: input.jwksUri,
    algorithms: [...input.algorithms],
    requiredClaims: [...(input.requiredClaims ?? [])],
    clockSkewSeconds: input.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    tenantId: input.tenantId?.trim(),
    userNameClaims,
    emailVerified: input.emailVerified ?? false,
    groupsClaim: input.groupsClaim ?? 'groups',
    rolesClaim: input.rolesClaim ?? 'roles',
    adminRoles: [...(input.adminRoles ?? [])],
    adminGroups: [...(input.adminGroups ?? [])],
    jwksCacheSeconds: input.jwksCacheSeconds ?? DEFAULT_JWKS_CACHE_SECONDS,
    jwksCooldownSeconds: input.jwksCooldownSeconds ?? DEFAULT_JWKS_COOLDOWN_SECONDS,
    fetchTimeoutMs: input.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
  };
}

/** Validates an `auth` config section and applies defaults. Throws DkeError ERR_CONFIG_INVALID. */
export function resolveAuthConfig(input: unknown): ResolvedAuthConfig {
  if (!validateSchema(input)) {
    const first = validateSchema.errors?.[0];
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: `invalid configuration: ${first ? describeSchemaError(first) : 'auth is invalid'}`,
    });
  }
  const config = input as unknown as AuthConfig;
  const issuers = config.issuers.map(resolveIssuer);
  const seen = new Set<string>();
  issuers.forEach((issuer, index) => {
    if (seen.has(issuer.issuer)) throw configError(`.issuers[${index}].issuer`, 'is configured twice');
    seen.add(issuer.issuer);
  });
  return {
    audience: config.audience,
    issuers,
    challenge: config.challenge ? { authority: config.challenge.authority } : undefined,
  };
}
