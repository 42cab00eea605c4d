/**
 * Configuration of bearer-token authentication (docs/auth.md): its TypeScript type, the JSON schema the
 * server's config file embeds under `auth`, and the resolver that checks it and fills in defaults.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { DkeError } from '../errors/index.js';
import { isFetchableUrl } from './loopback.js';
import {
  acceptedIssuers,
  isTenantTemplate,
  issuerForTenant,
  pinnedTenantProblem,
  templateProblem,
  tenantAuthority,
  TENANT_ID_PATTERN,
  TENANT_PLACEHOLDER,
} from './tenancy.js';

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
  /**
   * The exact `iss` value of its tokens; for a multi-tenant issuer a template with `{tenantid}` as one path
   * segment (`https://login.microsoftonline.com/{tenantid}/v2.0`), which needs `allowedTenants`.
   */
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
  /**
   * The one tenant this issuer serves (Entra-like issuers). It must be a path segment of `issuer`, and every
   * token must carry it as `tid`. It is the only way (with allowedTenants) a principal gets a tenant.
   */
  tenantId?: string;
  /** For an `issuer` template with `{tenantid}`: the tenants accepted, each exactly as it appears in `iss`. */
  allowedTenants?: string[];
  /** Claim with an immutable object id (Entra: 'oid'), giving the user id `oid:<value>`. Default: none. */
  objectIdClaim?: string;
  /** Claims that carry a trusted user name, in order of preference. Default: none. */
  userNameClaims?: string[];
  /** Whether this issuer's `email` claim is verified and may serve as a user name (docs/auth.md, nOAuth). */
  emailVerified?: boolean;
  /** Claim with the caller's groups (a dotted path reaches nested claims). Default: none (no groups). */
  groupsClaim?: string;
  /** Claim with the caller's roles (a dotted path reaches nested claims). Default: none (no roles). */
  rolesClaim?: string;
  /** Client ids (`azp`, else `appid`) whose tokens are accepted. Default: any client. */
  allowedClientIds?: string[];
  /** Scopes every token must carry (in `scp`, else `scope`). Default: none. */
  requiredScopes?: string[];
  /** Roles (of rolesClaim) every token must carry. Default: none. */
  requiredRoles?: string[];
  /** Largest accepted `exp - iat`. Default 86400 (one day). */
  maxTokenLifetimeSeconds?: number;
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
  readonly allowedTenants: readonly string[];
  readonly objectIdClaim: string | undefined;
  readonly userNameClaims: readonly string[];
  readonly emailVerified: boolean;
  readonly groupsClaim: string | undefined;
  readonly rolesClaim: string | undefined;
  readonly allowedClientIds: readonly string[] | undefined;
  readonly requiredScopes: readonly string[];
  readonly requiredRoles: readonly string[];
  readonly maxTokenLifetimeSeconds: number;
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
/**
 * One day: Entra access tokens live 60-90 minutes and an administrator can configure at most one day (Okta,
 * Keycloak and Google are in the same range), so this never refuses a normal token while a token valid for
 * years is refused. Continuous-access-evaluation tokens (up to ~28 h) need a higher setting.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 86400;
export const MAX_MAX_TOKEN_LIFETIME_SECONDS = 7 * 86400;
export const DEFAULT_JWKS_CACHE_SECONDS = 600;
export const DEFAULT_JWKS_COOLDOWN_SECONDS = 30;
export const DEFAULT_FETCH_TIMEOUT_MS = 5000;

const nonBlank = { type: 'string', minLength: 1, maxLength: 2048, pattern: '\\S' } as const;
const claimName = { type: 'string', minLength: 1, maxLength: 256, pattern: '^\\S+$' } as const;
const stringList = { type: 'array', items: nonBlank, maxItems: 1000 } as const;
const tokenList = { type: 'array', items: claimName, minItems: 1, maxItems: 100, uniqueItems: true } as const;
const tenantId = { type: 'string', pattern: TENANT_ID_PATTERN.source } as const;

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
          tenantId,
          allowedTenants: {
            type: 'array',
            items: tenantId,
            minItems: 1,
            maxItems: 1000,
            uniqueItems: true,
          },
          objectIdClaim: claimName,
          userNameClaims: { type: 'array', items: claimName, maxItems: 20 },
          emailVerified: { type: 'boolean' },
          groupsClaim: claimName,
          rolesClaim: claimName,
          allowedClientIds: tokenList,
          requiredScopes: tokenList,
          requiredRoles: { type: 'array', items: nonBlank, minItems: 1, maxItems: 100 },
          maxTokenLifetimeSeconds: { type: 'integer', minimum: 60, maximum: MAX_MAX_TOKEN_LIFETIME_SECONDS },
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

/** The tenant settings of one issuer; throws ERR_CONFIG_INVALID when they do not fit its URL. */
function checkTenancy(input: IssuerConfig, where: string): void {
  if (isTenantTemplate(input.issuer)) {
    const problem = templateProblem(input.issuer);
    if (problem !== undefined) throw configError(`${where}.issuer`, problem);
    if (input.allowedTenants === undefined) {
      throw configError(
        `${where}.allowedTenants`,
        `is required when issuer contains ${TENANT_PLACEHOLDER} (list every tenant to accept)`,
      );
    }
    if (input.discoveryUrl === undefined && input.jwksUri === undefined) {
      throw configError(where, `needs discoveryUrl or jwksUri when issuer contains ${TENANT_PLACEHOLDER}`);
    }
  } else if (input.allowedTenants !== undefined) {
    throw configError(`${where}.allowedTenants`, `is only for an issuer containing ${TENANT_PLACEHOLDER}`);
  }
  if (input.tenantId !== undefined) {
    const problem = pinnedTenantProblem(input.issuer, input.tenantId);
    if (problem !== undefined) throw configError(`${where}.tenantId`, problem);
  }
}

/** Settings that read a claim need that claim declared: nothing is read from an undeclared claim. */
function checkClaimDependencies(input: IssuerConfig, where: string): void {
  if (input.rolesClaim === undefined) {
    if (input.adminRoles?.length) throw configError(`${where}.adminRoles`, 'needs rolesClaim');
    if (input.requiredRoles !== undefined) throw configError(`${where}.requiredRoles`, 'needs rolesClaim');
  }
  if (input.groupsClaim === undefined && input.adminGroups?.length) {
    throw configError(`${where}.adminGroups`, 'needs groupsClaim');
  }
  // `email` is trusted only through `emailVerified`, never as a plain user-name claim (nOAuth).
  if ((input.userNameClaims ?? []).some((claim) => claim.toLowerCase() === 'email')) {
    throw configError(`${where}.userNameClaims`, "must not list 'email' (use emailVerified: true instead)");
  }
}

function resolveIssuer(input: IssuerConfig, index: number): ResolvedIssuerConfig {
  const where = `.issuers[${index}]`;
  // A template is checked as the URL it becomes for a tenant.
  checkUrl(`${where}.issuer`, issuerForTenant(input.issuer, 'tenant'));
  checkUrl(`${where}.discoveryUrl`, input.discoveryUrl);
  checkUrl(`${where}.jwksUri`, input.jwksUri);
  checkTenancy(input, where);
  checkClaimDependencies(input, where);
  return {
    issuer: input.issuer,
    discoveryUrl:
      input.discoveryUrl ?? `${input.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
    jwksUri: input.jwksUri,
    algorithms: [...input.algorithms],
    requiredClaims: [...(input.requiredClaims ?? [])],
    clockSkewSeconds: input.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    tenantId: input.tenantId,
    allowedTenants: [...(input.allowedTenants ?? [])],
    objectIdClaim: input.objectIdClaim,
    userNameClaims: [...(input.userNameClaims ?? [])],
    emailVerified: input.emailVerified ?? false,
    groupsClaim: input.groupsClaim,
    rolesClaim: input.rolesClaim,
    allowedClientIds: input.allowedClientIds === undefined ? undefined : [...input.allowedClientIds],
    requiredScopes: [...(input.requiredScopes ?? [])],
    requiredRoles: [...(input.requiredRoles ?? [])],
    maxTokenLifetimeSeconds: input.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    adminRoles: [...(input.adminRoles ?? [])],
    adminGroups: [...(input.adminGroups ?? [])],
    jwksCacheSeconds: input.jwksCacheSeconds ?? DEFAULT_JWKS_CACHE_SECONDS,
    jwksCooldownSeconds: input.jwksCooldownSeconds ?? DEFAULT_JWKS_COOLDOWN_SECONDS,
    fetchTimeoutMs: input.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
  };
}

/**
 * No two configurations may accept the same `iss` (compared ignoring ASCII case, as policies compare issuer
 * URLs), and one tenant id may be established by one authority only and with one spelling, so a policy's
 * issuer or tenant entry always names exactly one configured source.
 */
function checkUniqueness(issuers: readonly ResolvedIssuerConfig[]): void {
  const seenIssuers = new Map<string, number>();
  const seenTenants = new Map<string, { tenant: string; authority: string }>();
  issuers.forEach((config, index) => {
    const where = `.issuers[${index}]`;
    const authority = tenantAuthority(config.issuer);
    for (const accepted of acceptedIssuers(config)) {
      const key = accepted.issuer.toLowerCase();
      const other = seenIssuers.get(key);
      if (other !== undefined && other !== index) {
        throw configError(`${where}.issuer`, `is configured twice (also by issuers[${other}])`);
      }
      if (other === undefined) seenIssuers.set(key, index);
      if (accepted.tenant === undefined) continue;
      const known = seenTenants.get(accepted.tenant.toLowerCase());
      if (known && (known.authority !== authority || known.tenant !== accepted.tenant)) {
        throw configError(
          where,
          `establishes tenant ${JSON.stringify(accepted.tenant)}, already established as ${JSON.stringify(known.tenant)} by an issuer of ${known.authority}`,
        );
      }
      seenTenants.set(accepted.tenant.toLowerCase(), { tenant: accepted.tenant, authority });
    }
  });
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
  checkUniqueness(issuers);
  return {
    audience: config.audience,
    issuers,
    challenge: config.challenge ? { authority: config.challenge.authority } : undefined,
  };
}
