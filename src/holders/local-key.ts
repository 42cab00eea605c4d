/** A holder whose key is local: a public key (wrap only) or a private key file (wrap and unwrap). */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { DkeError } from '../errors/index.js';
import { keyIdOf, wrapAlgFor } from '../crypto/holder-keys.js';
import { unwrapShare, wrapShare } from '../format/share-jwe.js';
import type { Holder, HolderContext, Stanza } from './holder.js';

export const LOCAL_TYPE = 'local';

export class LocalKeyHolder implements Holder {
  readonly type = LOCAL_TYPE;
  readonly locator = '';

  private constructor(
    readonly keyId: string,
    private readonly publicKey: KeyObject,
    private readonly privateKey: KeyObject | undefined,
  ) {}

  /** From a public or private key; enforces the key policy of docs/key-files.md (RSA >= 3072, NIST EC). */
  static async fromKey(key: KeyObject): Promise<LocalKeyHolder> {
    wrapAlgFor(key);
    const publicKey = key.type === 'private' ? createPublicKey(key) : key;
    return new LocalKeyHolder(await keyIdOf(publicKey), publicKey, key.type === 'private' ? key : undefined);
  }

  async wrap(share: Uint8Array, context: HolderContext): Promise<Stanza> {
    const body = await wrapShare(share, this.publicKey, { objectId: context.objectId, keyId: this.keyId });
    return { type: this.type, keyId: this.keyId, locator: this.locator, body };
  }

  canUnwrap(stanza: Stanza): boolean {
    return this.privateKey !== undefined && stanza.type === this.type && stanza.keyId === this.keyId;
  }

  async unwrap(stanza: Stanza, context: HolderContext): Promise<Buffer> {
    if (this.privateKey === undefined)
      throw new DkeError('ERR_HOLDER_KEY_MISSING', { detail: 'public key only' });
    const { share } = await unwrapShare(stanza.body, this.privateKey, {
      keyId: this.keyId,
      objectId: context.objectId,
    });
    return share;
  }
}
