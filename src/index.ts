/** The OpenDKE library: encrypt and decrypt under two or more holders (docs/format.md). */
export {
  encrypt,
  encryptIterable,
  encryptReusing,
  prepareObject,
  type EncryptOptions,
} from './client/encrypt.js';
export { decrypt, decryptIterable, decryptReusing, type DecryptOptions } from './client/decrypt.js';
export { readHeader } from './client/read-header.js';
export type { Holder, HolderContext, Stanza } from './holders/holder.js';
export { LocalKeyHolder } from './holders/local-key.js';
export { RemoteHolder, isTrustedLocator } from './holders/remote.js';
export {
  clientCredentials,
  staticToken,
  type TokenSource,
  type ClientCredentialsConfig,
} from './holders/token-source.js';
export { parseKeyFile, serializeKeyFile, writeKeyFile } from './holders/key-file.js';
export {
  generateHolderKey,
  encodeRecipient,
  decodeRecipient,
  keyIdOf,
  type KeySpec,
} from './crypto/holder-keys.js';
export { DkeError, isDkeError, ERRORS, type ErrorCode } from './errors/index.js';
