/**
 * A holder whose private key stays in an OpenDKE key service (docs/protocol.md). Wrapping is local, with
 * the public key the service publishes; unwrapping sends the wrapped share to the service, which checks
 * the caller's token, its policy and the object id, audits, and answers with the share.
 */
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { DkeError } from '../errors/index.js';
import { fromB64url, toB64url } from '../crypto/encoding.js';
import { keyIdOf, publicKeyFromJwk, wrapAlgFor } from '../crypto/holder-keys.js';
import { SHARE_LENGTH, wrapShare } from '../format/share-jwe.js';
import type { Holder, HolderContext, Stanza } from './holder.js';
import type { TokenSource } from './token-source.js';
import { requestJson, requestJsonAnswer } from './http-json.js';
import { acceptReceipt, type ReceiptPolicy } from './receipt-policy.js';

export const REMOTE_TYPE = 'remote';

/** Key URLs must be https, except on loopback (development and tests). */
export function checkKeyUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DkeError('ERR_USAGE', { message: `not a key service URL: ${text}` });
  }
  const loopback =
    ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new DkeError('ERR_USAGE', { message: `key service URL must use https: ${text}` });
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new DkeError('ERR_USAGE', {
      message: `key service URL must not carry a query, fragment or credentials: ${text}`,
    });
  }
  return url;
}

/** Canonical locator: the URL without a trailing slash. */
function canonical(url: URL): string {
  return url.href.replace(/\/+$/, '');
}

interface PublicKeyAnswer {
  readonly keyId: string;
  readonly jwk: JWK;
}

export class RemoteHolder implements Holder {
  readonly type = REMOTE_TYPE;

  private constructor(
    readonly locator: string,
    readonly keyId: string,
    private readonly publicKey: KeyObject | undefined,
    private readonly tokens: TokenSource | undefined,
    private readonly receipts: ReceiptPolicy | undefined,
  ) {}

  /** For encryption: fetches and checks the service's active public key. */
  static async connect(keyUrl: string, tokens?: TokenSource): Promise<RemoteHolder> {
    const locator = canonical(checkKeyUrl(keyUrl));
    const answer = await requestJson<PublicKeyAnswer>(locator, { method: 'GET' });
    if (typeof answer.keyId !== 'string' || typeof answer.jwk !== 'object' || answer.jwk === null) {
      throw new DkeError('ERR_REMOTE_PROTOCOL', { message: `key service at ${locator} sent no public key` });
    }
    const publicKey = publicKeyFromJwk(answer.jwk);
    wrapAlgFor(publicKey);
    if ((await keyIdOf(publicKey)) !== answer.keyId) {
      throw new DkeError('ERR_REMOTE_PROTOCOL', {
        message: `key service at ${locator} sent a key that does not match its key id`,
      });
    }
    return new RemoteHolder(locator, answer.keyId, publicKey, tokens, undefined);
  }

  /**
   * For decryption: a holder for one stanza of a trusted key service. With a receipt policy, each unwrap
   * answer's audit receipt is checked (receipt-policy.ts) before its share is returned.
   */
  static forStanza(stanza: Stanza, tokens: TokenSource | undefined, receipts?: ReceiptPolicy): RemoteHolder {
    return new RemoteHolder(
      canonical(checkKeyUrl(stanza.locator)),
      stanza.keyId,
      undefined,
      tokens,
      receipts,
    );
  }

  async wrap(share: Uint8Array, context: HolderContext): Promise<Stanza> {
    if (this.publicKey === undefined)
      throw new DkeError('ERR_INTERNAL', { detail: 'remote holder without public key' });
    const body = await wrapShare(share, this.publicKey, { objectId: context.objectId, keyId: this.keyId });
    return { type: this.type, keyId: this.keyId, locator: this.locator, body };
  }

  canUnwrap(stanza: Stanza): boolean {
    return stanza.type === this.type && stanza.keyId === this.keyId && stanza.locator === this.locator;
  }

  async unwrap(stanza: Stanza, context: HolderContext): Promise<Buffer> {
    if (this.tokens === undefined) {
      throw new DkeError('ERR_REMOTE_UNAUTHENTICATED', {
        message: `no token for the key service at ${this.locator}`,
        hint: 'give a token with --token-file or DKE_TOKEN, or configure a client-credentials issuer',
      });
    }
    const token = await this.tokens.getToken(this.locator);
    const { json: answer, headers } = await requestJsonAnswer<{ share?: unknown; receipt?: unknown }>(
      `${this.locator}/unwrap`,
      { method: 'POST', token, body: { stanza: stanza.body } },
    );
    const share = typeof answer.share === 'string' ? fromB64url(answer.share) : undefined;
    if (share?.length !== SHARE_LENGTH) {
      throw new DkeError('ERR_REMOTE_PROTOCOL', {
        message: `key service at ${this.locator} sent no valid share`,
      });
    }
    if (this.receipts !== undefined) {
      const requestId = headers.get('x-request-id') ?? undefined;
      try {
        await acceptReceipt(this.receipts, answer.receipt, {
          locator: this.locator,
          keyId: stanza.keyId,
          objectId: toB64url(context.objectId),
          ...(requestId === undefined ? {} : { requestId }),
        });
      } catch (error) {
        share.fill(0); // refused: the share is never used
        throw error;
      }
    }
    return share;
  }
}

/** True when `locator` lies under one of the trusted key-service URL prefixes (same origin, path prefix). */
export function isTrustedLocator(locator: string, trusted: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(locator);
  } catch {
    return false;
  }
  return trusted.some((prefix) => {
    const base = new URL(prefix);
    const basePath = base.pathname.replace(/\/+$/, '');
    return (
      base.origin === url.origin && (url.pathname === basePath || url.pathname.startsWith(`${basePath}/`))
    );
  });
}
