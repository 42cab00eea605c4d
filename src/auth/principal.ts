/**
 * Turns the claims of a verified token into a Principal, trusting only what the issuer's configuration says
 * the issuer asserts (docs/auth.md): the subject; the object id, user names, groups and roles only from the
 * claims the config names; `email` only from issuers that verify it; the tenant only as the configuration
 * establishes it, never from `tid` alone.
 */
import type { JWTPayload } from 'jose';
import type { Principal } from '../service/contracts.js';
import { DkeError } from '../errors/index.js';
import { comparableIdentity, subjectUserId, trimAscii } from '../policy/identity.js';
import type { ResolvedIssuerConfig } from './config.js';
import type { AcceptedIssuer } from './tenancy.js';

function invalid(message: string, detail?: string): DkeError {
  return new DkeError('ERR_AUTH_INVALID', { message, ...(detail === undefined ? {} : { detail }) });
}
/** A claim by name; a dotted name that is not itself a claim walks nested objects (`realm_access.roles`). */
export function readClaim(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The non-blank strings of a claim holding an array of strings (or a single string); others are ignored. */
function stringsOf(value: unknown): string[] {
  const list: unknown[] = Array.isArray(value) ? (value as unknown[]) : [value];
  const out: string[] = [];
  for (const item of list) {
    if (typeof item !== 'string') continue;
    // ASCII trimming only: a no-break space must not vanish and leave an ASCII look-alike behind.
    const trimmed = trimAscii(item);
    if (trimmed !== '' && !out.includes(trimmed)) out.push(trimmed);
  }
  return out;
}

function nonBlankString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function intersects(have: readonly string[], want: readonly string[]): boolean {
  const wanted = new Set(want.map(comparableIdentity).filter((v) => v !== undefined));
  return have.some((value) => {
    const n = comparableIdentity(value);
    return n !== undefined && wanted.has(n);
  });
}

/** An `email_verified` of false (or the string "false", which some issuers send) disqualifies the email. */
function emailUsable(payload: JWTPayload, config: ResolvedIssuerConfig): boolean {
  if (!config.emailVerified) return false;
  const flag = payload.email_verified;
  return flag !== false && !(typeof flag === 'string' && flag.trim().toLowerCase() === 'false');
}

/**
 * The tenant the configuration established for this `iss`, after checking the token agrees: its `tid` must
 * be exactly that tenant. Without an established tenant the principal has none, whatever `tid` says.
 */
function establishedTenant(payload: JWTPayload, accepted: AcceptedIssuer): string | undefined {
  if (accepted.tenant === undefined) return undefined;
  if (payload.tid !== accepted.tenant) {
    throw invalid(
      'token tenant not accepted',
      `tid ${JSON.stringify(payload.tid)?.slice(0, 200)} is not ${accepted.tenant} (iss ${accepted.issuer})`,
    );
  }
  return accepted.tenant;
}

/** Trusted user names in comparison form; values that cannot be compared (not NFKC) are left out. */
function trustedUserNames(payload: JWTPayload, config: ResolvedIssuerConfig): string[] {
  const raw: string[] = [];
  for (const claim of config.userNameClaims) {
    const value = nonBlankString(readClaim(payload, claim));
    if (value !== undefined) raw.push(value);
  }
  const email = nonBlankString(payload.email);
  if (email !== undefined && emailUsable(payload, config)) raw.push(email);
  const names: string[] = [];
  for (const value of raw) {
    const name = comparableIdentity(value);
    // A user name must never pose as a subject or object id ("sub:<someone else>"), so those are dropped.
    if (name !== undefined && !/^(sub|oid):/.test(name)) names.push(name);
  }
  return names;
}

/** The strings of a configured claim; an issuer without that claim configured asserts none. */
function configuredStrings(payload: JWTPayload, claim: string | undefined): string[] {
  return claim === undefined ? [] : stringsOf(readClaim(payload, claim));
}

/**
 * Builds the principal of a token whose signature and registered claims were already verified against the
 * exact accepted issuer `accepted`.
 */
export function buildPrincipal(
  payload: JWTPayload,
  config: ResolvedIssuerConfig,
  accepted: AcceptedIssuer,
): Principal {
  const subject = nonBlankString(payload.sub);
  if (subject === undefined)
    throw invalid('token has no subject', 'sub claim missing, blank or not a string');
  const tenant = establishedTenant(payload, accepted);

  const userIds: string[] = [];
  const add = (id: string): void => {
    if (!userIds.includes(id)) userIds.push(id);
  };
  add(subjectUserId(subject));
  if (config.objectIdClaim !== undefined) {
    const oid = nonBlankString(readClaim(payload, config.objectIdClaim));
    const comparable = oid === undefined ? undefined : comparableIdentity(oid);
    if (comparable !== undefined) add(`oid:${comparable}`);
  }
  const names = trustedUserNames(payload, config);
  names.forEach(add);

  const groups = configuredStrings(payload, config.groupsClaim);
  const roles = configuredStrings(payload, config.rolesClaim);
  return {
    issuer: accepted.issuer,
    subject,
    ...(tenant === undefined ? {} : { tenant }),
    userIds,
    ...(names[0] === undefined ? {} : { userName: names[0] }),
    groups,
    roles,
    isAdmin: intersects(roles, config.adminRoles) || intersects(groups, config.adminGroups),
  };
}
