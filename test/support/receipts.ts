/**
 * Receipts and proof bundles built locally from a real store (I10-FORMATS.md): the record's canonical text
 * as extra, its inclusion proof from StoreAuditLog, and a checkpoint signed with a locally generated log key
 * (and, optionally, cosigned by local witnesses). What the log side's `dke audit prove` writes.
 */
import { canonicalAuditText, type StoreAuditLog } from '../../src/audit/index.js';
import type { AuditRow, DkeStore } from '../../src/store/index.js';
import {
  appendSignatures,
  cosign,
  formatCheckpointBody,
  formatTlogProof,
  generateSignerKey,
  KEY_TYPE_COSIGNATURE_V1,
  signNote,
} from '../../src/transparency/index.js';

export const TEST_ORIGIN = 'keys.example.test/opendke/audit';

export interface TestLogKeys {
  readonly log: { signerKey: string; verifierKey: string };
  readonly witnesses: { signerKey: string; verifierKey: string }[];
}

export function testLogKeys(witnessCount = 2, origin = TEST_ORIGIN): TestLogKeys {
  return {
    log: generateSignerKey(origin),
    witnesses: Array.from({ length: witnessCount }, (_, k) =>
      generateSignerKey(`witness-${k + 1}.example.test`, KEY_TYPE_COSIGNATURE_V1),
    ),
  };
}

/** A checkpoint note of the log's tree at `size` (default: all), signed by the log, cosigned by `cosigners`. */
export async function checkpointNote(
  audit: StoreAuditLog,
  keys: TestLogKeys,
  options: { size?: number; cosigners?: readonly string[]; time?: number; origin?: string } = {},
): Promise<string> {
  const head = await audit.treeHead(options.size);
  const body = formatCheckpointBody({
    origin: options.origin ?? TEST_ORIGIN,
    size: head.size,
    rootHash: head.rootHash,
  });
  const note = signNote(body, [keys.log.signerKey]);
  const time = options.time ?? Math.floor(Date.now() / 1000);
  return appendSignatures(
    note,
    (options.cosigners ?? []).map((signer) => cosign(body, signer, time)),
  );
}

/** The receipt (= proof bundle) of record `seq` against the tree of `size` (default: all). */
export async function buildReceipt(
  store: DkeStore,
  audit: StoreAuditLog,
  keys: TestLogKeys,
  seq: number,
  options: { size?: number; cosigners?: readonly string[]; time?: number } = {},
): Promise<string> {
  const size = options.size ?? (await audit.treeSize());
  const row = (await store.getAuditRow(seq)) as AuditRow;
  return formatTlogProof({
    index: seq - 1,
    proof: await audit.inclusionProof(seq - 1, size),
    checkpointNote: await checkpointNote(audit, keys, { ...options, size }),
    extra: Buffer.from(canonicalAuditText(row), 'utf8'),
  });
}
