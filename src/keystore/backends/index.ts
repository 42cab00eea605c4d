/** Key backends (docs/hsm.md): the private-key-operation seam, software keys and PKCS#11 tokens. */
export {
  KEY_BACKEND_KINDS,
  isBackendUnavailable,
  operationFailed,
  type KeyBackendKind,
  type PrivateKeyOperator,
} from './operator.js';
export { SoftwareKeyOperator } from './software.js';
export { Pkcs11KeyBackend, Pkcs11KeyOperator, type TokenKey } from './pkcs11/backend.js';
export { validatePkcs11Config, readPin, type Pkcs11Config } from './pkcs11/config.js';
export type { TokenHealth, TokenOptions, TokenState } from './pkcs11/token.js';
export type { PrivateKeyFlags } from './pkcs11/key-objects.js';
