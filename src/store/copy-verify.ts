/**
 * The check that makes `dke store copy` trustworthy (docs/storage.md, "Copying a store"): after the copy,
 * everything is read back from both stores and compared, and the copy's audit log is verified from scratch
 * (every hash recomputed from the stored fields, the Merkle root rebuilt) before anything is reported as
 * copied. Reading the source again also catches a source that changed while it was copied.
 */
import { isDeepStrictEqual } from 'node:util';
import { DkeError } from '../errors/index.js';
import { verifyAuditChain, type AuditTreeHead } from '../audit/verify.js';
import { emptyRoot } from '../transparency/merkle.js';
import { rootPlan } from '../transparency/proof-plan.js';
import { readSecurityEvents, securityEventKey, sortedBy } from './copy-listings.js';
import type { AuditChainLink, AuditTail, CheckpointRow, DkeStore } from './types.js';

/** What the target holds once verified equal to the source. */
export interface StoreCopyReport {
  readonly meta: number;
  readonly keys: number;
  readonly keyVersions: number;
  readonly revokedObjects: number;
  readonly auditRecords: number;
  readonly auditTail: AuditTail | undefined;
  /** Hex RFC 6962 root of all records, recomputed from the copy's records. */
  readonly rootHash: string;
  readonly checkpoints: number;
  readonly cosignatures: number;
  readonly witnessedLogs: number;
  readonly securityEvents: number;
}

export interface CopyVerifyOptions {
  /** Audit records verified so far, now and then during the stream. */
  readonly onAuditProgress?: (verified: number) => void;
}

/** Records between two progress reports while verifying. */
const PROGRESS_EVERY = 1000;

const CHANGED_HINT = 'stop every key service on the source before copying: it must not change meanwhile';

function differs(what: string): DkeError {
  return new DkeError('ERR_STORE_COPY_MISMATCH', {
    message: `the copy differs from the source: ${what}`,
    hint: CHANGED_HINT,
  });
}

function auditDiffers(what: string): DkeError {
  return new DkeError('ERR_AUDIT_CHAIN_BROKEN', { message: `the copy's audit log ${what}` });
}

function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

async function verifyMeta(source: DkeStore, target: DkeStore): Promise<number> {
  const [from, to] = await Promise.all([source.listMeta(), target.listMeta()]);
  const byName = (entries: [string, string][]): [string, string][] => sortedBy(entries, ([name]) => name);
  if (!same(byName(from), byName(to)))
    throw differs('the metadata (master-key check value, sealed log keys)');
  return to.length;
}

interface KeyCounts {
  readonly keys: number;
  readonly versions: number;
  readonly revoked: number;
}

async function verifyKeys(source: DkeStore, target: DkeStore): Promise<KeyCounts> {
  const [from, to] = await Promise.all([source.listKeys(), target.listKeys()]);
  const names = (keys: { name: string }[]): string[] => sortedBy(keys, (k) => k.name).map((k) => k.name);
  if (!same(names(from), names(to)))
    throw differs(`the key names (source ${from.length}, copy ${to.length})`);
  let versions = 0;
  let revoked = 0;
  for (const name of names(from)) {
    const read = (store: DkeStore) =>
      Promise.all([store.getKey(name), store.listKeyVersions(name), store.listRevokedObjects(name)]);
    const [[key1, versions1, revoked1], [key2, versions2, revoked2]] = await Promise.all([
      read(source),
      read(target),
    ]);
    if (!same(key1, key2)) throw differs(`key '${name}' (state, policy, cache or active version)`);
    if (!same(versions1, versions2)) throw differs(`the versions of key '${name}'`);
    const objects = (list: typeof revoked1): typeof revoked1 => sortedBy(list, (r) => r.objectId);
    if (!same(objects(revoked1), objects(revoked2))) throw differs(`the revoked objects of key '${name}'`);
    versions += versions2.length;
    revoked += revoked2.length;
  }
  return { keys: to.length, versions, revoked };
}

/** The stored tree's root at `size`, from its O(log n) complete-subtree nodes. */
async function storedRoot(store: DkeStore, size: number): Promise<Buffer> {
  if (size === 0) return emptyRoot();
  const plan = rootPlan(size);
  return plan.assemble(await store.readAuditTreeNodes(plan.nodes))[0] as Buffer;
}

const tailText = (tail: AuditTail | undefined): string =>
  tail === undefined ? 'no records' : `record ${tail.seq}`;

async function* counted(
  links: AsyncIterable<AuditChainLink>,
  report: ((verified: number) => void) | undefined,
): AsyncGenerator<AuditChainLink> {
  let verified = 0;
  for await (const link of links) {
    yield link;
    verified += 1;
    if (verified % PROGRESS_EVERY === 0) report?.(verified);
  }
  report?.(verified);
}

interface AuditCounts {
  readonly records: number;
  readonly tail: AuditTail | undefined;
  readonly rootHash: string;
  readonly checkpoints: number;
  readonly cosignatures: number;
}

async function verifyCheckpoints(source: DkeStore, target: DkeStore): Promise<[CheckpointRow[], number]> {
  const [from, to] = await Promise.all([source.listCheckpoints(), target.listCheckpoints()]);
  if (!same(from, to)) throw differs(`the signed checkpoints (source ${from.length}, copy ${to.length})`);
  let cosignatures = 0;
  for (const { size } of to) {
    const read = async (store: DkeStore) =>
      sortedBy(await store.listCosignatures(size), (c) => `${c.witnessName} ${c.keyHash.toString('hex')}`);
    const [cosigned1, cosigned2] = await Promise.all([read(source), read(target)]);
    if (!same(cosigned1, cosigned2))
      throw differs(`the witness cosignatures on the checkpoint of size ${size}`);
    cosignatures += cosigned2.length;
  }
  return [to, cosignatures];
}

async function verifyAudit(
  source: DkeStore,
  target: DkeStore,
  options: CopyVerifyOptions,
): Promise<AuditCounts> {
  const [sourceTail, tail] = await Promise.all([source.auditTail(), target.auditTail()]);
  if (!same(sourceTail, tail)) {
    throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
      message: `the copy's audit log ends at ${tailText(tail)}, the source's at ${tailText(sourceTail)}`,
      hint: CHANGED_HINT,
    });
  }
  const size = tail?.seq ?? 0;
  const [sourceTreeSize, treeSize] = await Promise.all([source.auditTreeSize(), target.auditTreeSize()]);
  if (treeSize !== size || sourceTreeSize !== size) {
    throw auditDiffers(
      `Merkle tree covers ${treeSize} records (the source's ${sourceTreeSize}), not ${size}`,
    );
  }
  const [sourceRoot, root] = await Promise.all([storedRoot(source, size), storedRoot(target, size)]);
  if (!root.equals(sourceRoot)) throw auditDiffers(`Merkle root at size ${size} differs from the source's`);
  const [checkpoints, cosignatures] = await verifyCheckpoints(source, target);
  // The records, read back and hashed from their fields, must give the source's root and every checkpoint's.
  const heads: AuditTreeHead[] = [
    { size, rootHash: sourceRoot },
    ...checkpoints.map((c) => ({ size: c.size, rootHash: c.root })),
  ];
  const report = await verifyAuditChain(
    counted(target.iterateAuditChain(), options.onAuditProgress),
    undefined,
    heads,
  );
  if (!report.ok) {
    const at = report.firstBroken;
    throw auditDiffers(`does not verify at record ${at?.seq ?? '?'}: ${at?.reason ?? 'unknown'}`);
  }
  if (report.records !== size || !same(report.last, tail) || report.rootHash !== root.toString('hex')) {
    throw auditDiffers(`has ${report.records} records that verify, not the ${size} its tail and tree say`);
  }
  return { records: size, tail, rootHash: report.rootHash, checkpoints: checkpoints.length, cosignatures };
}

async function verifyWitnessedLogs(source: DkeStore, target: DkeStore): Promise<number> {
  const [from, to] = await Promise.all([source.listWitnessedLogs(), target.listWitnessedLogs()]);
  const byOrigin = (logs: typeof from): typeof from => sortedBy(logs, (l) => l.origin);
  if (!same(byOrigin(from), byOrigin(to)))
    throw differs('the witnessed logs (the latest checkpoint cosigned per log)');
  return to.length;
}

async function verifySecurityEvents(source: DkeStore, target: DkeStore): Promise<number> {
  const [from, to] = await Promise.all([readSecurityEvents(source), readSecurityEvents(target)]);
  const byKey = (rows: typeof from): typeof from => sortedBy(rows, securityEventKey);
  if (!same(byKey(from), byKey(to)))
    throw differs(`the security events (source ${from.length}, copy ${to.length})`);
  return to.length;
}

/**
 * Compares everything the two stores hold and verifies the target's audit log; resolves with what the target
 * holds, or rejects with ERR_AUDIT_CHAIN_BROKEN (the audit log or checkpoints) or ERR_STORE_COPY_MISMATCH.
 */
export async function verifyStoreCopy(
  source: DkeStore,
  target: DkeStore,
  options: CopyVerifyOptions = {},
): Promise<StoreCopyReport> {
  const meta = await verifyMeta(source, target);
  const keys = await verifyKeys(source, target);
  const witnessedLogs = await verifyWitnessedLogs(source, target);
  const securityEvents = await verifySecurityEvents(source, target);
  const audit = await verifyAudit(source, target, options);
  return {
    meta,
    keys: keys.keys,
    keyVersions: keys.versions,
    revokedObjects: keys.revoked,
    auditRecords: audit.records,
    auditTail: audit.tail,
    rootHash: audit.rootHash,
    checkpoints: audit.checkpoints,
    cosignatures: audit.cosignatures,
    witnessedLogs,
    securityEvents,
  };
}
