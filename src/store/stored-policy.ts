/**
 * Key policies are stored as JSON text by every backend. Reading one back is shared: a stored policy that is
 * not exactly the expected shape must never grant anything, so it fails closed (ERR_INTERNAL).
 */
import { DkeError } from '../errors/index.js';
import type { KeyPolicy } from '../service/contracts.js';

export function parseStoredPolicy(text: string, keyName: string): KeyPolicy {
  const corrupt = (): DkeError =>
    new DkeError('ERR_INTERNAL', { detail: `stored policy of key ${keyName} is not valid` });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt();
  }
  if (typeof value !== 'object' || value === null) throw corrupt();
  const lists = value as Record<string, unknown>;
  const list = (field: keyof KeyPolicy): string[] => {
    const entries = lists[field];
    if (!Array.isArray(entries) || !entries.every((e): e is string => typeof e === 'string')) throw corrupt();
    return entries;
  };
  return { users: list('users'), groups: list('groups'), roles: list('roles'), tenants: list('tenants') };
}
