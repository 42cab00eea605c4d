/** Console roles and the user name from the id_token claims the console configuration names. */
import type { ConsoleConfig } from './config.js';
import type { ConsoleRole } from './session.js';

function claimStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Exact, case-sensitive matches of console.roleClaim against adminValues and auditorValues. */
export function rolesOf(claims: Readonly<Record<string, unknown>>, config: ConsoleConfig): ConsoleRole[] {
  const values = claimStrings(claims[config.roleClaim]);
  const roles: ConsoleRole[] = [];
  if (values.some((v) => config.adminValues.includes(v))) roles.push('admin');
  if (values.some((v) => config.auditorValues.includes(v))) roles.push('auditor');
  return roles;
}

export function userNameOf(
  claims: Readonly<Record<string, unknown>>,
  config: ConsoleConfig,
): string | undefined {
  for (const name of config.userNameClaims) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '' && value.length <= 256) return value;
  }
  return undefined;
}
