/**
 * The key service's own signed-note keys (docs/audit.md, "Log and witness keys"): the audit log's
 * checkpoint key (Ed25519, type 0x01) and its witness key (cosignature/v1, type 0x04). Each is created on
 * first use and kept like every other private key: sealed under the master key, bound to its role, in the
 * store's meta table. The verifier key (public) is stored beside it in clear, so `dke audit key` can print
 * it without the master key.
 *
 * A key's name is part of its key ID (and, for the log key, the checkpoint origin), so it is fixed when the
 * key is created: asking for the role under another name is a configuration error, never a silent new key.
 */
import { DkeError } from '../errors/index.js';
import type { DkeStore } from '../store/index.js';
import {
  generateSignerKey,
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_ED25519,
  parseSignerKey,
  parseVerifierKey,
  type NoteSignerKey,
} from '../transparency/index.js';
import type { MasterKey } from './master-key.js';

export type NoteKeyRole = 'audit-log' | 'witness';

const TYPE_OF_ROLE = { 'audit-log': KEY_TYPE_ED25519, witness: KEY_TYPE_COSIGNATURE_V1 } as const;

interface StoredNoteKey {
  readonly name: string;
  readonly verifierKey: string;
  /** base64 of MasterKey.seal(signer key string, sealContext). */
  readonly sealed: string;
}

export interface ServiceNoteKey {
  readonly role: NoteKeyRole;
  readonly name: string;
  /** `<name>+<key ID>+<base64>`: what others pin. */
  readonly verifierKey: string;
  readonly signer: NoteSignerKey;
}

const metaName = (role: NoteKeyRole): string => `note_key:${role}`;
const sealContext = (role: NoteKeyRole, name: string): string => `opendke/note-key/${role}/${name}`;

function parseStored(role: NoteKeyRole, text: string): StoredNoteKey {
  try {
    const value = JSON.parse(text) as Partial<StoredNoteKey>;
    if (
      typeof value.name === 'string' &&
      typeof value.verifierKey === 'string' &&
      typeof value.sealed === 'string'
    ) {
      return { name: value.name, verifierKey: value.verifierKey, sealed: value.sealed };
    }
  } catch {
    // fall through
  }
  throw new DkeError('ERR_INTERNAL', { detail: `stored ${role} key is not valid` });
}

/**
 * The service's key for `role`, created (and stored sealed) if the store has none. Rejects
 * ERR_CONFIG_INVALID when the stored key has another name, ERR_MASTER_KEY when it does not unseal.
 */
export async function serviceNoteKey(
  store: Pick<DkeStore, 'setMetaIfAbsent'>,
  masterKey: MasterKey,
  role: NoteKeyRole,
  name: string,
): Promise<ServiceNoteKey> {
  const fresh = generateSignerKey(name, TYPE_OF_ROLE[role]);
  const candidate: StoredNoteKey = {
    name,
    verifierKey: fresh.verifierKey,
    sealed: masterKey.seal(Buffer.from(fresh.signerKey, 'utf8'), sealContext(role, name)).toString('base64'),
  };
  // Two processes starting at once both generate; the first stored key wins and both use it.
  const stored = parseStored(role, await store.setMetaIfAbsent(metaName(role), JSON.stringify(candidate)));
  if (stored.name !== name) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: `invalid configuration: the ${role} key was created as ${JSON.stringify(stored.name)}, not ${JSON.stringify(name)}`,
      hint: `a key's name is part of its key ID and cannot change; configure ${JSON.stringify(stored.name)} again`,
    });
  }
  const opened = masterKey.open(Buffer.from(stored.sealed, 'base64'), sealContext(role, stored.name));
  if (opened === undefined) {
    throw new DkeError('ERR_MASTER_KEY', { detail: `the ${role} key does not unseal` });
  }
  const signer = parseSignerKey(opened.toString('utf8'));
  opened.fill(0);
  if (
    signer.type !== TYPE_OF_ROLE[role] ||
    parseVerifierKey(stored.verifierKey).publicKey.compare(signer.publicKey) !== 0
  ) {
    throw new DkeError('ERR_INTERNAL', { detail: `stored ${role} key does not match its verifier key` });
  }
  return { role, name: stored.name, verifierKey: stored.verifierKey, signer };
}

/** The verifier key of `role` if one was created; needs no master key (for `dke audit key`). */
export async function storedVerifierKey(
  store: Pick<DkeStore, 'getMeta'>,
  role: NoteKeyRole,
): Promise<string | undefined> {
  const text = await store.getMeta(metaName(role));
  return text === undefined ? undefined : parseStored(role, text).verifierKey;
}
