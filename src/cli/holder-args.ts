/** Turns `--holder`, `--identity`, `--key-service` and token flags into Holder objects. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { JWK } from 'jose';
import { DkeError } from '../errors/index.js';
import {
  RECIPIENT_PREFIX,
  decodeRecipient,
  publicKeyFromJwk,
  publicKeyFromPem,
} from '../crypto/holder-keys.js';
import type { Holder, Stanza } from '../holders/holder.js';
import { LocalKeyHolder } from '../holders/local-key.js';
import { isKeyFileText, keyFileNeedsPassphrase, parseKeyFile } from '../holders/key-file.js';
import { REMOTE_TYPE, RemoteHolder, isTrustedLocator } from '../holders/remote.js';
import { clientCredentials, staticToken, type TokenSource } from '../holders/token-source.js';
import type { ReceiptPolicy } from '../holders/receipt-policy.js';
import { readPassphrase, type PassphraseOptions } from './passphrase.js';

export type { PassphraseOptions } from './passphrase.js';

async function readText(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DkeError('ERR_IO', {
      message: `cannot read ${what} ${file}${missing ? ': no such file' : ''}`,
      cause,
    });
  }
}

/**
 * The private key of a key file, with the file name in any error. A passphrase is read only if the file is
 * sealed. `missingPassphraseHint` replaces the hint when a sealed file gets no passphrase.
 */
async function readKeyFile(
  file: string,
  text: string,
  options: PassphraseOptions,
  missingPassphraseHint?: string,
): Promise<KeyObject> {
  let secret: string | undefined;
  try {
    secret = keyFileNeedsPassphrase(text) ? await readPassphrase(options) : undefined;
    return await parseKeyFile(text, secret);
  } catch (error) {
    if (!(error instanceof DkeError)) throw error;
    const passphraseMissing = error.code === 'ERR_KEY_PASSPHRASE' && secret === undefined;
    throw new DkeError(error.code, {
      message: `${file}: ${error.message}`,
      hint: passphraseMissing ? (missingPassphraseHint ?? error.hint) : error.hint,
      cause: error,
    });
  }
}

/**
 * A holder for encryption: a `dkepub1:` recipient, a key service URL, or a key/JWK/PEM file. For a key file
 * the public key is derived from its private key (never taken from its editable `recipient` field), so a
 * sealed key file needs its passphrase here.
 */
export async function resolveHolder(spec: string, options: PassphraseOptions = {}): Promise<Holder> {
  if (spec.startsWith(RECIPIENT_PREFIX)) return LocalKeyHolder.fromKey(decodeRecipient(spec));
  if (/^https?:\/\//i.test(spec)) return RemoteHolder.connect(spec);
  const text = await readText(spec, 'holder key');
  if (isKeyFileText(text)) {
    const privateKey = await readKeyFile(
      spec,
      text,
      options,
      'give its passphrase with --passphrase-file or DKE_PASSPHRASE, or name the holder by its dkepub1: recipient string',
    );
    return LocalKeyHolder.fromKey(createPublicKey(privateKey));
  }
  const trimmed = text.trim();
  if (trimmed.startsWith(RECIPIENT_PREFIX))
    return LocalKeyHolder.fromKey(decodeRecipient(trimmed.split(/\s/)[0] as string));
  if (trimmed.startsWith('{')) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(trimmed) as JWK;
    } catch {
      throw new DkeError('ERR_KEY_INVALID', { message: `${spec} is not a key file, JWK or PEM` });
    }
    return LocalKeyHolder.fromKey(publicKeyFromJwk(jwk));
  }
  if (trimmed.startsWith('-----BEGIN')) return LocalKeyHolder.fromKey(publicKeyFromPem(trimmed));
  throw new DkeError('ERR_KEY_INVALID', {
    message: `${spec} is not a recipient, key service URL, key file, JWK or PEM`,
    hint: 'a holder is dkepub1:..., https://host/keys/NAME, or a file made by dke keygen',
  });
}

/** Loads private key files given with --identity. */
export async function loadIdentities(
  files: readonly string[],
  options: PassphraseOptions,
): Promise<Holder[]> {
  const holders: Holder[] = [];
  for (const file of files) {
    const text = await readText(file, 'key file');
    if (!isKeyFileText(text)) {
      throw new DkeError('ERR_KEY_INVALID', {
        message: `${file} is not an OpenDKE key file`,
        hint: 'identities are files made by dke keygen',
      });
    }
    holders.push(await LocalKeyHolder.fromKey(await readKeyFile(file, text, options)));
  }
  return holders;
}

export interface RemoteOptions {
  readonly keyService?: readonly string[];
  readonly tokenFile?: string;
  readonly oidcIssuer?: string;
  readonly clientId?: string;
  readonly clientSecretFile?: string;
  readonly audience?: string;
}

/** The token source from flags or environment (DKE_TOKEN, DKE_CLIENT_SECRET), if any is configured. */
export async function tokenSourceFrom(options: RemoteOptions): Promise<TokenSource | undefined> {
  if (options.tokenFile !== undefined) return staticToken(await readText(options.tokenFile, 'token file'));
  if (options.oidcIssuer !== undefined) {
    const secret =
      options.clientSecretFile !== undefined
        ? (await readText(options.clientSecretFile, 'client secret file')).trim()
        : process.env.DKE_CLIENT_SECRET;
    if (options.clientId === undefined || secret === undefined || options.audience === undefined) {
      throw new DkeError('ERR_USAGE', {
        message: '--oidc-issuer needs --client-id, --audience and a client secret',
        hint: 'give the secret with --client-secret-file or DKE_CLIENT_SECRET',
      });
    }
    return clientCredentials({
      issuer: options.oidcIssuer,
      clientId: options.clientId,
      clientSecret: secret,
      audience: options.audience,
    });
  }
  if (process.env.DKE_TOKEN !== undefined) return staticToken(process.env.DKE_TOKEN);
  return undefined;
}

/** Builds remote holders for stanzas whose key service the user trusts (never for other URLs: tokens stay home). */
export function remoteResolver(
  trusted: readonly string[],
  tokens: TokenSource | undefined,
  receipts?: ReceiptPolicy,
): (stanza: Stanza) => Holder | undefined {
  return (stanza) =>
    stanza.type === REMOTE_TYPE && isTrustedLocator(stanza.locator, trusted)
      ? RemoteHolder.forStanza(stanza, tokens, receipts)
      : undefined;
}
