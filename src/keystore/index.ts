/** The key store (docs/keys.md): master key, key lifecycle, policies, revocation, and opening it all. */
export {
  KeyManager,
  sealContext,
  type CreateKeyOptions,
  type ImportKeyOptions,
  type KeyManagerOptions,
  type RevokedObjectInfo,
  type RotateKeyOptions,
} from './key-manager.js';
export {
  loadMasterKey,
  MasterKey,
  MASTER_KEY_BYTES,
  MASTER_KEY_ENV,
  type LoadedMasterKey,
  type MasterKeySourceOptions,
} from './master-key.js';
export { DEFAULT_SPEC, PROTOCOL_SPECS, isKeySpec } from './key-specs.js';
export {
  KEY_NAME_PATTERN,
  MAX_CACHE_SECONDS,
  RESERVED_KEY_NAMES,
  assertNewKeyName,
  isKeyName,
} from './validation.js';
export {
  openAuditStore,
  openAuditStoreAt,
  openKeyService,
  openKeyServiceAt,
  assertMasterKeyMatches,
  type AuditStore,
  type AuditStoreOptions,
  type KeyService,
  type KeyServiceOptions,
} from './service.js';
export {
  serviceNoteKey,
  storedVerifierKey,
  type NoteKeyRole,
  type ServiceNoteKey,
} from './note-signing-keys.js';
