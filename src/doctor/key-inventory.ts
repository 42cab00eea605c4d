/**
 * Which keys the service has and in what state, read without changing anything: from the local store
 * named by the config (opened read-only, no master key needed), else from the admin API with a token the
 * caller supplies (from a file or the environment, never the command line). The store is preferred: it
 * needs no credentials beyond file access and leaves no audit record; the admin API's `admin.key.list` is
 * audited like any admin call.
 */
import { existsSync } from 'node:fs';
import { isFetchableUrl } from '../auth/loopback.js';
import type { ServiceConfig } from '../config/index.js';
import { isDkeError } from '../errors/index.js';
import { storedVerifierKey } from '../keystore/note-signing-keys.js';
import { isPostgresUrl, openStore, redactPostgresUrl, type DkeStore } from '../store/index.js';
import { probe } from './http-probe.js';

export interface KeySummary {
  readonly name: string;
  readonly protocol: string;
  readonly state: string;
  /** The active version's key id (absent once destroyed). */
  readonly activeKeyId?: string;
  readonly spec?: string;
  /** Objects revoked one by one under this key (store only). */
  readonly revokedObjects?: number;
}

/** The audit log as the store holds it (store only). */
export interface StoredAuditState {
  readonly records: number;
  readonly treeSize: number;
  readonly latestCheckpointSize: number | undefined;
  /** Newest witness cosignature time (seconds since the epoch), if any. */
  readonly newestCosignatureAt: number | undefined;
  /** The log's verifier key, to check the published checkpoint's signature. */
  readonly logVerifierKey: string | undefined;
}

export interface KeyInventory {
  readonly source: 'store' | 'admin-api';
  /** The store location (password redacted) or the admin URL. */
  readonly where: string;
  readonly keys: readonly KeySummary[];
  readonly audit?: StoredAuditState;
}

/** Why no inventory could be read, as a sentence (and whether it is worth a warning). */
export interface InventoryProblem {
  readonly problem: string;
  readonly severity: 'skip' | 'warn' | 'fail';
}

async function summarizeStore(store: DkeStore): Promise<Pick<KeyInventory, 'keys' | 'audit'>> {
  const keys: KeySummary[] = [];
  for (const key of await store.listKeys()) {
    const versions = await store.listKeyVersions(key.name);
    const active = versions.find((v) => v.version === key.activeVersion);
    const revoked = await store.listRevokedObjects(key.name);
    keys.push({
      name: key.name,
      protocol: key.protocol,
      state: key.state,
      ...(active === undefined || active.destroyedAt !== null
        ? {}
        : { activeKeyId: active.keyId, spec: active.spec }),
      revokedObjects: revoked.length,
    });
  }
  const tail = await store.auditTail();
  const checkpoint = await store.latestCheckpoint();
  const cosignatures = await store.newestCosignatures();
  const newest = cosignatures.reduce<number | undefined>(
    (max, c) => (max === undefined || c.timestamp > max ? c.timestamp : max),
    undefined,
  );
  return {
    keys,
    audit: {
      records: tail?.seq ?? 0,
      treeSize: await store.auditTreeSize(),
      latestCheckpointSize: checkpoint?.size,
      newestCosignatureAt: newest,
      logVerifierKey: await storedVerifierKey(store, 'audit-log'),
    },
  };
}

/** Reads the store the config names, read-only; a missing SQLite file is never created. */
export async function readStoreInventory(config: ServiceConfig): Promise<KeyInventory | InventoryProblem> {
  const { database } = config.store;
  const where = isPostgresUrl(database) ? redactPostgresUrl(database) : database;
  if (!isPostgresUrl(database) && !existsSync(database)) {
    return { severity: 'skip', problem: `the store ${where} is not on this machine` };
  }
  let store: DkeStore;
  try {
    store = await openStore(database, { readonly: true, postgres: config.store.postgres });
  } catch (error) {
    return {
      severity: 'warn',
      problem: `cannot open the store ${where} read-only: ${isDkeError(error) ? error.message : 'unexpected error'}`,
    };
  }
  try {
    return { source: 'store', where, ...(await summarizeStore(store)) };
  } catch (error) {
    return {
      severity: 'warn',
      problem: `cannot read the store ${where}: ${isDkeError(error) ? error.message : 'unexpected error'}`,
    };
  } finally {
    await store.close();
  }
}

interface AdminKey {
  readonly name?: unknown;
  readonly protocol?: unknown;
  readonly state?: unknown;
  readonly activeVersion?: unknown;
  readonly versions?: readonly { version?: unknown; keyId?: unknown; spec?: unknown; destroyed?: unknown }[];
}

/** GET /admin/keys with an admin token (audited by the service as admin.key.list). */
export async function readAdminInventory(
  baseUrl: string,
  token: string,
  options: { timeoutMs: number; ca?: string },
): Promise<KeyInventory | InventoryProblem> {
  const where = `${baseUrl}/admin/keys`;
  if (!isFetchableUrl(where)) {
    // A bearer token over plain http to another machine is a token given away.
    return {
      severity: 'warn',
      problem: `the admin token is not sent to ${where}: plain http to a host that is not loopback`,
    };
  }
  // The certificate is verified here (not merely inspected): the token goes only to the real service.
  const answer = await probe(where, {
    timeoutMs: options.timeoutMs,
    headers: { authorization: `Bearer ${token}` },
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  if (!answer.ok) return { severity: 'warn', problem: `GET ${where}: ${answer.error}` };
  if (answer.status === 401 || answer.status === 403) {
    return {
      severity: 'warn',
      problem: `GET ${where} was refused (${answer.status}): the token is not a valid admin token (expired, wrong audience, no admin role?)`,
    };
  }
  let keys: readonly AdminKey[];
  try {
    const body = JSON.parse(answer.body) as { keys?: unknown };
    if (answer.status !== 200 || !Array.isArray(body.keys)) throw new Error('unexpected');
    keys = body.keys as AdminKey[];
  } catch {
    return { severity: 'warn', problem: `GET ${where} answered ${answer.status} without a key list` };
  }
  return {
    source: 'admin-api',
    where,
    keys: keys.map((key) => {
      const active = key.versions?.find((v) => v.version === key.activeVersion);
      return {
        name: String(key.name),
        protocol: String(key.protocol),
        state: String(key.state),
        ...(active === undefined || active.destroyed === true || typeof active.keyId !== 'string'
          ? {}
          : { activeKeyId: active.keyId, spec: String(active.spec) }),
      };
    }),
  };
}

export function isInventory(value: KeyInventory | InventoryProblem): value is KeyInventory {
  return 'keys' in value;
}
