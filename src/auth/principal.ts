/**
 * Turns the claims of a verified token into a Principal, trusting only what the issuer's configuration says
 * is trustworthy (docs/auth.md): the subject, the object id, configured user-name claims (tenant-checked),
 * and `email` only from issuers that verify it.
 */
import type { JWTPayload } from 'jose';
import type { Principal } from '../service/contracts.js';
import { DkeError } from '../errors/index.js';
import type { ResolvedIssuerConfig } from './config.js';

function invalid(message: string, detail?: string): DkeError {
  return new DkeError('ERR_AUTH_INVALID', { message, ...(detail === undefined ? {} : { detail }) });
}

function norm(value: string): string {
  return value.trim().toLowerCase();
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
    const trimmed = item.trim();
    if (trimmed !== '' && !out.includes(trimmed)) out.push(trimmed);
  }
  return out;
}

function nonBlankString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function intersects(have: readonly string[], want: readonly string[]): boolean {
  const wanted = new Set(want.map(norm));
  return have.some((value) => wanted.has(norm(value)));
}

/** An `email_verified` of false (or the string "false", which some issuers send) disqualifies the email. */
function emailUsable(payload: JWTPayload, config: ResolvedIssuerConfig): boolean {
  if (!config.emailVerified) return false;
  const flag = payload.email_verified;
  return flag !== false && !(typeof flag === 'string' && norm(flag) === 'false');
}

/** Builds the principal of a token whose signature and registered claims were already verified. */
export function buildPrincipal(payload: JWTPayload, config: ResolvedIssuerConfig): Principal {
  const subject = nonBlankString(payload.sub);
  if (subject === undefined)
    throw invalid('token has no subject', 'sub claim missing, blank or not a string');

  const tid = nonBlankString(payload.tid);
  if (config.tenantId !== undefined && (tid === undefined || norm(tid) !== norm(config.tenantId))) {
    throw invalid(
      'token tenant not accepted',
      `tid ${JSON.stringify(payload.tid)} is not ${config.tenantId}`,
    );
  }

  const userIds: string[] = [];
  const add = (id: string): void => {
    const n = norm(id);
    if (n !== '' && !userIds.includes(n)) userIds.push(n);
  };
  add(`sub:${subject}`);
  const oid = nonBlankString(payload.oid);
  if (oid !== undefined) add(`oid:${oid}`);

  const userNames: string[] = [];
  for (const claim of config.userNameClaims) {
    const value = nonBlankString(readClaim(payload, claim));
    if (value !== undefined) userNames.push(norm(value));
  }
  const email = nonBlankString(payload.email);
  if (email !== undefined && emailUsable(payload, config)) userNames.push(norm(email));
  // A user name must never pose as a subject or object id ("sub:<someone else>"), so those are dropped.
  const trustedNames = userNames.filter((name) => !/^(sub|oid):/.test(name));
  trustedNames.forEach(add);

  const groups = stringsOf(readClaim(payload, config.groupsClaim));
  const roles = stringsOf(readClaim(payload, config.rolesClaim));
  const principal: Principal = {
    issuer: config.issuer,
    subject,
    ...(tid === undefined ? {} : { tenant: tid }),
    userIds,
    ...(trustedNames[0] === undefined ? {} : { userName: trustedNames[0] }),
    groups,
    roles,
    isAdmin: intersects(roles, config.adminRoles) || intersects(groups, config.adminGroups),
  };
  return principal;
}
