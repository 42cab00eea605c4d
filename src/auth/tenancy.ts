/**
 * Which tenant an issuer configuration establishes (docs/auth.md, "Tenants"). A principal's tenant never
 * comes from a token claim alone: it is either the `tenantId` pinned for an issuer whose URL names that
 * tenant, or, for a multi-tenant issuer (`issuer` containing `{tenantid}`), one of its `allowedTenants`,
 * each of which expands to one exact issuer URL. So every accepted `iss` maps to at most one tenant.
 */

export const TENANT_PLACEHOLDER = '{tenantid}';

/** Tenant ids are URL path segments of their issuer: unreserved characters only, so they match literally. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;

/** Hosts of Microsoft Entra ID's v1 and v2 issuers: one authority, so they may share tenant ids. */
const ENTRA_HOSTS = new Set(['sts.windows.net', 'login.microsoftonline.com']);

/** One exact `iss` the configuration accepts, and the tenant it establishes. */
export interface AcceptedIssuer {
  readonly issuer: string;
  readonly tenant: string | undefined;
}

export function isTenantTemplate(issuer: string): boolean {
  return issuer.includes(TENANT_PLACEHOLDER);
}

export function issuerForTenant(template: string, tenant: string): string {
  return template.replace(TENANT_PLACEHOLDER, tenant);
}

function pathSegments(url: string): string[] {
  return new URL(url).pathname.split('/');
}

/** Why a pinned tenant id does not agree with its issuer URL, or undefined when it does. */
export function pinnedTenantProblem(issuer: string, tenantId: string): string | undefined {
  if (!TENANT_ID_PATTERN.test(tenantId)) return 'must consist of 1-128 of A-Z a-z 0-9 . _ ~ -';
  if (isTenantTemplate(issuer)) return `must not be set when issuer contains ${TENANT_PLACEHOLDER}`;
  if (!pathSegments(issuer).includes(tenantId)) {
    return (
      'must appear as a whole path segment of issuer, exactly as written (Entra: ' +
      'https://sts.windows.net/<tenantId>/ or https://login.microsoftonline.com/<tenantId>/v2.0)'
    );
  }
  return undefined;
}

/** Why a multi-tenant issuer template is unusable, or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  if (template.split(TENANT_PLACEHOLDER).length !== 2) return `must contain ${TENANT_PLACEHOLDER} once`;
  const marker = 'opendke-tenant-marker';
  const segments = pathSegments(issuerForTenant(template, marker));
  if (!segments.includes(marker)) return `must have ${TENANT_PLACEHOLDER} as a whole path segment`;
  return undefined;
}

/**
 * The authority a tenant id belongs to: Entra's issuers share one, any other issuer is its own origin. The
 * same tenant id established by two authorities would let one answer for the other's tenant.
 */
export function tenantAuthority(issuer: string): string {
  const url = new URL(issuerForTenant(issuer, 'x'));
  return ENTRA_HOSTS.has(url.hostname) ? 'Microsoft Entra ID' : url.origin;
}

/** Every exact `iss` one issuer configuration accepts, each with the tenant it establishes. */
export function acceptedIssuers(config: {
  readonly issuer: string;
  readonly tenantId: string | undefined;
  readonly allowedTenants: readonly string[];
}): AcceptedIssuer[] {
  if (isTenantTemplate(config.issuer)) {
    return config.allowedTenants.map((tenant) => ({
      issuer: issuerForTenant(config.issuer, tenant),
      tenant,
    }));
  }
  return [{ issuer: config.issuer, tenant: config.tenantId }];
}
