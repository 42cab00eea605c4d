/**
 * Key lookups shared by the protocol adapters. Each key belongs to one protocol; the other protocol's
 * routes treat it as unknown, so a key is only ever used the way it was created for.
 */
import { DkeError } from '../errors/index.js';
import type { KeyCore, KeyInfo, KeyProtocol, KeyVersionInfo } from './contracts.js';

/** The key `name` of `protocol`. Rejects ERR_KEY_NOT_FOUND. */
export async function protocolKey(keys: KeyCore, protocol: KeyProtocol, name: string): Promise<KeyInfo> {
  const key = await keys.describe(name);
  if (key.protocol !== protocol) {
    throw new DkeError('ERR_KEY_NOT_FOUND', { detail: `${name} is a ${key.protocol} key, not ${protocol}` });
  }
  return key;
}

/**
 * The version new content may be encrypted to: the active one of an enabled key. Disabled and destroyed
 * keys are refused (ERR_KEY_DISABLED, ERR_KEY_DESTROYED), so nothing new depends on them.
 */
export function publishedVersion(key: KeyInfo): KeyVersionInfo {
  if (key.state === 'destroyed') throw new DkeError('ERR_KEY_DESTROYED');
  if (key.state === 'disabled') throw new DkeError('ERR_KEY_DISABLED');
  const version = key.versions.find((v) => v.version === key.activeVersion);
  if (version === undefined || version.destroyed) {
    throw new DkeError('ERR_KEY_DESTROYED', { detail: `${key.name} has no usable active version` });
  }
  return version;
}
