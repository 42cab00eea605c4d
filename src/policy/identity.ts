/**
 * How identity values (user names, object ids, groups, roles, tenant ids, issuer URLs) compare, on both the
 * policy side and the token side (docs/policy.md, "Comparing identities"). The rule is built so that no
 * character outside ASCII can ever compare equal to an ASCII one:
 *
 * 1. leading and trailing ASCII spaces and tabs are dropped;
 * 2. a value that is not in Unicode NFKC form is not comparable at all (it matches nothing): NFKC is what
 *    would turn KELVIN SIGN into `K`, `ﬀ` into `ff`, fullwidth letters and `ſ` into ASCII, so refusing such
 *    values (instead of normalizing them) leaves nothing that could fold onto an ASCII letter;
 * 3. only A-Z fold to a-z (no Unicode case mapping: `İ`, `ı`, `K` stay themselves);
 * 4. the results are compared code point by code point.
 *
 * `sub:` user ids are the exception: OIDC subjects are case-sensitive, so only the prefix folds and the
 * subject after it is compared exactly.
 */

const SUB_PREFIX = 'sub:';

/** Drops leading and trailing ASCII spaces and tabs only: any other space is part of the value. */
export function trimAscii(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

function foldAscii(value: string): string {
  return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** True when the value is its own NFKC form (its compatibility characters would otherwise fold). */
export function isNfkcStable(value: string): boolean {
  return value === value.normalize('NFKC');
}

/**
 * The comparison form of an identity value, or undefined when it matches nothing (blank, or not NFKC).
 * Used for groups, roles, tenant ids, issuer URLs and every user id except `sub:`.
 */
export function comparableIdentity(value: string): string | undefined {
  const trimmed = trimAscii(value);
  if (trimmed === '' || !isNfkcStable(trimmed)) return undefined;
  return foldAscii(trimmed);
}

/** True when a user id is a `sub:` entry (prefix compared ASCII case-insensitively). */
export function isSubjectId(value: string): boolean {
  return foldAscii(trimAscii(value).slice(0, SUB_PREFIX.length)) === SUB_PREFIX;
}

/**
 * The comparison form of a user id: `sub:<subject>` keeps the subject exactly as written (only the prefix
 * folds); anything else follows comparableIdentity. Undefined: matches nothing.
 */
export function comparableUserId(value: string): string | undefined {
  const trimmed = trimAscii(value);
  if (isSubjectId(trimmed)) {
    const subject = trimmed.slice(SUB_PREFIX.length);
    return subject === '' ? undefined : `${SUB_PREFIX}${subject}`;
  }
  return comparableIdentity(trimmed);
}

/** The user id of a token subject: `sub:` and the subject exactly as issued. */
export function subjectUserId(subject: string): string {
  return `${SUB_PREFIX}${subject}`;
}

/**
 * The comparison form of one of a principal's user ids. The authenticator writes `sub:` ids itself
 * (subjectUserId), so they are taken verbatim, not even trimmed; the others follow comparableIdentity.
 */
export function comparablePrincipalUserId(value: string): string | undefined {
  if (value.startsWith(SUB_PREFIX)) return value.length > SUB_PREFIX.length ? value : undefined;
  return comparableIdentity(value);
}
