/**
 * The holder interface: each holder wraps its own share to its own key and unwraps it again. Local key
 * files and the remote key service implement it; decryption needs every holder named in a file.
 */
import type { Stanza } from '../format/header.js';

export type { Stanza } from '../format/header.js';

export interface HolderContext {
  /** The object id of the file being written or read (16 bytes); bound into every wrapped share. */
  readonly objectId: Uint8Array;
}

export interface Holder {
  /** Stanza type this holder writes and reads (`local`, `remote`). */
  readonly type: string;
  /** RFC 7638 thumbprint of the holder's public key. */
  readonly keyId: string;
  /** Empty for local keys; the key URL for remote holders. */
  readonly locator: string;
  /** Wraps a 32-byte share to this holder's key, bound to the object id and key id. */
  wrap(share: Uint8Array, context: HolderContext): Promise<Stanza>;
  /** True when this holder can unwrap the stanza (same type and key, and it holds or reaches the private key). */
  canUnwrap(stanza: Stanza): boolean;
  /** Unwraps a share; throws DkeError ERR_HOLDER_UNWRAP_FAILED / ERR_HOLDER_BINDING_MISMATCH / remote errors. */
  unwrap(stanza: Stanza, context: HolderContext): Promise<Buffer>;
}

/** How messages name a holder: its type, key id and, for remote holders, where it lives. */
export function describeStanza(stanza: Pick<Stanza, 'type' | 'keyId' | 'locator'>): string {
  return stanza.locator === ''
    ? `${stanza.type} key ${stanza.keyId}`
    : `${stanza.type} key ${stanza.keyId} at ${stanza.locator}`;
}
