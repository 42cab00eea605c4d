/**
 * The storage adapter contract (docs/storage.md). The key store, the policy and revocation tables and the
 * audit log are written through this interface only; backends: SQLite (embedded, src/store/sqlite) and
 * PostgreSQL (several instances on one database, src/store/postgres). Both pass test/store/store-suite.ts.
 *
 * Every method is asynchronous and atomic: a backend runs each call in one transaction of its own and
 * settles only after it committed durably. A call that cannot get a lock another process holds (within the
 * backend's wait, which may be zero) rejects with ERR_STORE_BUSY and changed nothing; a backend that cannot
 * be reached (PostgreSQL down, pool exhausted past its timeout) rejects with ERR_STORE_UNAVAILABLE and changed
 * nothing that the caller can observe. Callers on a server retry audit appends (src/audit) or answer 503.
 * Callbacks (`build`) run inside that transaction, must be synchronous and must not call back into the store.
 */
import type { KeyPolicy, KeyProtocol, KeyState } from '../service/contracts.js';
import type { KeySpec } from '../crypto/holder-keys.js';
import type { NodeId } from '../transparency/proof-plan.js';

export interface KeyRecord {
  readonly name: string;
  readonly protocol: KeyProtocol;
  readonly state: KeyState;
  readonly activeVersion: number;
  /** null: clients must not cache the public key. */
  readonly cacheSeconds: number | null;
  readonly policy: KeyPolicy;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewKeyRecord {
  readonly name: string;
  readonly protocol: KeyProtocol;
  readonly cacheSeconds: number | null;
  readonly createdAt: string;
}

export interface KeyVersionRecord {
  readonly keyName: string;
  readonly version: number;
  /** RFC 7638 thumbprint; unique across the whole store, destroyed versions included. */
  readonly keyId: string;
  readonly spec: KeySpec;
  /** The canonical public JWK, as JSON text. */
  readonly publicJwk: string;
  /**
   * The private key sealed under the master key (src/keystore/master-key.ts); null once destroyed, and
   * always null for a key in a token.
   */
  readonly sealedPrivateKey: Buffer | null;
  /** Where a token key lives: the PKCS#11 token reference (hex CKA_ID, docs/hsm.md); null/absent: software. */
  readonly tokenRef?: string | null;
  readonly createdAt: string;
  readonly destroyedAt: string | null;
}

/** What the key manager supplies for a new version; the store assigns `version`. */
export interface NewKeyVersion {
  readonly keyId: string;
  readonly spec: KeySpec;
  readonly publicJwk: string;
  /** The sealed private key of a software key; null for a token key (which has `tokenRef`). */
  readonly sealedPrivateKey: Buffer | null;
  readonly tokenRef?: string | null;
  readonly createdAt: string;
}

export interface KeyUpdate {
  readonly state?: KeyState;
  readonly cacheSeconds?: number | null;
  readonly policy?: KeyPolicy;
  readonly updatedAt: string;
}

export interface RevokedObject {
  readonly objectId: string;
  readonly revokedAt: string;
}

/** One audit record as stored: absent optional fields are null. Hashing is src/audit's job. */
export interface AuditRow {
  readonly seq: number;
  readonly time: string;
  readonly prevHash: string;
  readonly hash: string;
  readonly action: string;
  readonly result: string;
  readonly reason: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly userName: string | null;
  readonly keyName: string | null;
  readonly keyVersion: number | null;
  readonly keyId: string | null;
  readonly objectId: string | null;
  readonly clientAddress: string | null;
  readonly requestId: string | null;
}

/**
 * A record as verify() streams it: its stored hash, seq and prevHash, and its canonical text (the JSON
 * array docs/audit.md specifies, exactly as src/audit/canonical.ts `canonicalAuditText` builds it) made
 * from the stored fields. A tuple, not an object: a million of them are read in one verification.
 */
export type AuditChainLink = [hash: string, seq: number, prevHash: string, canonicalText: string];

export interface AuditTail {
  readonly seq: number;
  readonly hash: string;
}

/** A validated query (src/audit normalizes the public AuditQuery into this). Newest first (see afterSeq). */
export interface AuditRowQuery {
  readonly keyName?: string;
  readonly objectId?: string;
  readonly subject?: string;
  /** Matches `subject` exactly or `userName` (stored lower-case) after lower-casing. */
  readonly identity?: string;
  /** ISO-8601 UTC with milliseconds; records at or after it. */
  readonly since?: string;
  /** ISO-8601 UTC with milliseconds; records before it (exclusive). */
  readonly until?: string;
  /** Exactly this action (e.g. `native.unwrap`). */
  readonly action?: string;
  /** Exactly this result: `allowed`, `ok`, `denied` or `failed`. */
  readonly result?: string;
  /** None of these actions (the console's "hide page reads"); at most MAX_EXCLUDED_ACTIONS. */
  readonly excludeActions?: readonly string[];
  /** Records with a seq below it: the next page back of a newest-first listing. */
  readonly beforeSeq?: number;
  /**
   * Records with a seq above it, for following the log: then the answer is OLDEST first (the `limit` records
   * right after the cursor), so a follower reading page after page misses none.
   */
  readonly afterSeq?: number;
  readonly limit: number;
}

/** The console's Activity page: releases and refusals per time bucket and per key or subject. */
export interface AuditActivityQuery {
  /** ISO-8601 UTC with milliseconds; the window is since <= time < until. */
  readonly since: string;
  readonly until: string;
  /** Buckets start on the UTC hour or the UTC day. */
  readonly bucket: 'hour' | 'day';
  /** Per key (`keyName`) or per token subject (`subject`). */
  readonly by: 'keyName' | 'subject';
  /**
   * How many named series: the top `series` keys (subjects) of the window by releases, then refusals, then
   * name; every other record (other names, and records without one) is counted under `name: null`.
   */
  readonly series: number;
}

/**
 * One bucket of one series. Only buckets with a release or a refusal appear. A release is `native.unwrap` or
 * `ms-dke.decrypt` with result `allowed`, a refusal any record `denied` or `failed` (the incident report's
 * definitions, src/report/build.ts).
 */
export interface AuditActivityRow {
  /** ISO-8601 UTC start of the bucket, e.g. 2025-01-01T13:00:00.000Z. */
  readonly bucket: string;
  /** The key name or subject; null: the others. */
  readonly name: string | null;
  readonly releases: number;
  readonly refusals: number;
}

/**
 * Failed authentications of one client address for one reason (and token issuer/subject, when known) within
 * one minute (docs/audit.md#security-events): aggregated, so a flood is a count, not a row per request.
 */
export interface SecurityEventRow {
  /** ISO-8601 UTC, the start of the minute. */
  readonly windowStart: string;
  readonly clientAddress: string;
  /** Registry code: ERR_AUTH_MISSING, ERR_AUTH_INVALID, ERR_RATE_LIMITED. */
  readonly reason: string;
  /** The issuer a refused token's signature verified against; '' when unknown (not verified, no token). */
  readonly issuer: string;
  /** That token's `sub`; '' when unknown. */
  readonly subject: string;
  readonly count: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/** How much of the table a write keeps: rows last seen before `notBefore` go, then all but the newest `maxRows`. */
export interface SecurityEventRetention {
  readonly maxRows: number;
  readonly notBefore: string;
}

export interface SecurityEventQuery {
  /** ISO-8601 UTC; rows last seen at or after it. */
  readonly since?: string;
  readonly clientAddress?: string;
  readonly reason?: string;
  readonly issuer?: string;
  readonly subject?: string;
  readonly limit: number;
}

/** The latest checkpoint this service cosigned as a witness for one log. */
export interface WitnessedLog {
  readonly origin: string;
  readonly size: bigint;
  /** 32-byte RFC 6962 root hash. */
  readonly root: Buffer;
  readonly updatedAt: string;
}

/** A signed checkpoint of the audit log (docs/audit.md, "Checkpoints"), persisted once per size. */
export interface CheckpointRow {
  readonly size: number;
  /** The RFC 6962 root of the first `size` entries (32 bytes). */
  readonly root: Buffer;
  /** The C2SP signed note, verbatim (the log's signature only; cosignatures are stored apart). */
  readonly note: string;
  /** ISO-8601 UTC. */
  readonly createdAt: string;
}

/** A witness's verified cosignature on one of our checkpoints. */
export interface CosignatureRow {
  readonly size: number;
  readonly witnessName: string;
  /** The witness key's 4-byte key ID. */
  readonly keyHash: Buffer;
  /** The note signature line, final newline included. */
  readonly line: string;
  /** POSIX seconds the witness signed at. */
  readonly timestamp: number;
}

/** What an unwrap checks about one key, read in one snapshot (one round trip on a networked backend). */
export interface KeyUseRecord {
  readonly key: KeyRecord;
  /** The version with that key id under this key; undefined when there is none. */
  readonly version: KeyVersionRecord | undefined;
  /** Whether the object (when one was given) is revoked under this key. */
  readonly objectRevoked: boolean;
}

/** 'ok'; 'locked': another connection holds the write lock (SQLite); 'unavailable': the backend is unreachable. */
export type StoreHealth = 'ok' | 'locked' | 'unavailable';

export interface DkeStore {
  /** 'sqlite' or 'postgres'; for logs, /healthz and `dke` status output. */
  readonly backend: string;

  // ---- metadata (e.g. the master-key check value, sealed note-signing keys)
  getMeta(name: string): Promise<string | undefined>;
  /** Stores `value` unless `name` is set already; resolves to the value now stored (first writer wins). */
  setMetaIfAbsent(name: string, value: string): Promise<string>;
  /** Every metadata entry, by name (for `dke store copy`). */
  listMeta(): Promise<[name: string, value: string][]>;

  // ---- keys
  /** Creates the key with its policy (empty) and version 1. Rejects ERR_KEY_EXISTS for a taken name or key id. */
  createKey(key: NewKeyRecord, firstVersion: NewKeyVersion): Promise<void>;
  /**
   * Stores a key exactly as another store holds it (`dke store copy`): record, policy, state, every version
   * (destroyed ones with null material) and its revoked objects, in one transaction. ERR_KEY_EXISTS if the
   * name or a key id is taken.
   */
  importKey(
    key: KeyRecord,
    versions: readonly KeyVersionRecord[],
    revoked: readonly RevokedObject[],
  ): Promise<void>;
  getKey(name: string): Promise<KeyRecord | undefined>;
  listKeys(): Promise<KeyRecord[]>;
  /** Ascending by version. */
  listKeyVersions(name: string): Promise<KeyVersionRecord[]>;
  getKeyVersion(name: string, keyId: string): Promise<KeyVersionRecord | undefined>;
  /**
   * The key, the version `keyId` under it and whether `objectId` is revoked, from one snapshot; undefined
   * when the key does not exist. Read per request, so a change committed through any instance applies to
   * the next request everywhere.
   */
  getKeyForUse(name: string, keyId: string, objectId?: string): Promise<KeyUseRecord | undefined>;
  /*
   * A destroyed key is a tombstone: the methods below that change a key check, in the same transaction
   * as the change, that it exists (else ERR_KEY_NOT_FOUND) and is not destroyed (else ERR_KEY_DESTROYED),
   * so a change racing a `destroy` in another process cannot bring the key back.
   */
  /**
   * Adds version max+1 and makes it active, atomically (two processes rotating at once get distinct
   * versions). `build` receives the new version number. Rejects ERR_KEY_EXISTS for a key id stored already.
   */
  addKeyVersion(name: string, build: (version: number) => NewKeyVersion): Promise<KeyVersionRecord>;
  updateKey(name: string, update: KeyUpdate): Promise<void>;
  /**
   * Crypto-shred: overwrites and removes the sealed private key of every version, marks them and the key
   * destroyed, and makes sure no copy of the old material is left in the backend's own files (as far as
   * the backend allows: docs/storage.md). Destroying a destroyed key changes nothing. ERR_KEY_NOT_FOUND.
   */
  destroyKey(name: string, at: string): Promise<void>;

  // ---- per-key object revocation
  /** Resolves false when the object was revoked already. */
  revokeObject(keyName: string, objectId: string, at: string): Promise<boolean>;
  /** Resolves false when the object was not revoked. */
  unrevokeObject(keyName: string, objectId: string): Promise<boolean>;
  /** False for unknown keys too. */
  isObjectRevoked(keyName: string, objectId: string): Promise<boolean>;
  listRevokedObjects(keyName: string): Promise<RevokedObject[]>;

  // ---- audit log (append-only)
  /**
   * Appends records durably. Inside one write transaction that excludes every other writer (other
   * processes and other instances too: the log never forks), `build` receives the current last record and
   * returns the rows to insert, which must continue the sequence. Settles after the commit is durable.
   */
  appendAuditRows(build: (tail: AuditTail | undefined) => readonly AuditRow[]): Promise<readonly AuditRow[]>;
  /*
   * The RFC 6962 Merkle tree over the records (docs/audit.md, "Merkle tree"): entry i is the record with
   * seq i+1, its leaf hashLeaf(UTF-8 canonical text). appendAuditRows stores each new leaf and every
   * complete subtree it closes in the same transaction as the rows, and refuses (ERR_AUDIT_UNAVAILABLE) when
   * the stored tree does not cover exactly the stored records. Opening for writing completes the tree of
   * records stored before it existed.
   */
  /** Entries in the stored tree (equals the number of records once the tree is complete). */
  auditTreeSize(): Promise<number>;
  /**
   * The hashes of complete-subtree nodes (level, index), in order, from one snapshot. Rejects
   * ERR_AUDIT_UNAVAILABLE when one is not stored.
   */
  readAuditTreeNodes(ids: readonly NodeId[]): Promise<Buffer[]>;
  getAuditRow(seq: number): Promise<AuditRow | undefined>;
  /** Records carrying this request id, ascending seq, at most `limit` (indexed). */
  findAuditRowsByRequestId(requestId: string, limit: number): Promise<AuditRow[]>;
  auditTail(): Promise<AuditTail | undefined>;
  /** Every record in ascending seq order, streamed (never all in memory; a backend reads in pages). */
  iterateAuditChain(): AsyncIterableIterator<AuditChainLink>;
  queryAuditRows(query: AuditRowQuery): Promise<AuditRow[]>;
  /**
   * The records at or after `since` (ISO-8601 UTC with milliseconds; all when absent), in ascending seq
   * order, streamed (never all in memory): for reports over a time range (src/report) and `dke store copy`.
   */
  iterateAuditRows(since?: string): AsyncIterableIterator<AuditRow>;
  /**
   * Releases and refusals of a time window per bucket and per key or subject (the console's Activity
   * page), aggregated by the backend (GROUP BY on the time index), ordered by bucket, then the named series
   * by name, then the others. Rejects RangeError for since >= until or series outside 1..50.
   */
  auditActivity(query: AuditActivityQuery): Promise<AuditActivityRow[]>;

  // ---- signed checkpoints and witness cosignatures (docs/audit.md, "Checkpoints")
  /**
   * Stores a checkpoint unless one of that size is stored already with the same root (then nothing
   * changes). A stored checkpoint of that size with another root rejects ERR_AUDIT_CHAIN_BROKEN: the tree
   * is append-only, so one size has one root.
   */
  storeCheckpoint(row: CheckpointRow): Promise<void>;
  /** The checkpoint of the largest size. */
  latestCheckpoint(): Promise<CheckpointRow | undefined>;
  getCheckpoint(size: number): Promise<CheckpointRow | undefined>;
  /** Every stored checkpoint, ascending size (for `dke store copy`). */
  listCheckpoints(): Promise<CheckpointRow[]>;
  /** Stores a cosignature (a second one by the same witness key on the same size replaces the first). */
  storeCosignature(row: CosignatureRow): Promise<void>;
  /** The cosignatures on the checkpoint of `size`, by witness name. */
  listCosignatures(size: number): Promise<CosignatureRow[]>;
  /** Per witness name and key ID, its cosignature on the largest size (newest timestamp on ties). */
  newestCosignatures(): Promise<CosignatureRow[]>;

  // ---- security events (bounded; not part of the audit chain)
  /**
   * Adds the counts (rows with the same window, address and reason are summed, first/last seen widened),
   * then prunes to `retention`, in one write transaction.
   */
  recordSecurityEvents(rows: readonly SecurityEventRow[], retention: SecurityEventRetention): Promise<void>;
  /** Newest (lastSeen) first. */
  querySecurityEvents(query: SecurityEventQuery): Promise<SecurityEventRow[]>;

  // ---- witnessed logs (tlog-witness: the latest checkpoint this service cosigned, per origin)
  getWitnessedLog(origin: string): Promise<WitnessedLog | undefined>;
  /** Every witnessed log, by origin (for `dke store copy`). */
  listWitnessedLogs(): Promise<WitnessedLog[]>;
  /**
   * Records `newSize`/`newRoot` as the latest cosigned checkpoint of `origin`, in one write transaction, only
   * if the stored size still equals `oldSize` (no row counts as size 0). Resolves false (and changes nothing)
   * otherwise, so of two racing submissions from the same old size exactly one wins.
   */
  compareAndSetWitnessedLog(
    origin: string,
    oldSize: bigint,
    newSize: bigint,
    newRoot: Uint8Array,
    updatedAt: string,
  ): Promise<boolean>;

  /**
   * For health checks, never waiting: 'locked' while another connection holds the write lock (SQLite:
   * `BEGIN IMMEDIATE` at busy_timeout 0, let go at once), 'unavailable' when the backend cannot be reached
   * within its short probe timeout (PostgreSQL). Writes nothing; never rejects.
   */
  probeHealth(): Promise<StoreHealth>;

  /** Idempotent. */
  close(): Promise<void>;
}
