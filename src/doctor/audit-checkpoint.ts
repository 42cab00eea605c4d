/**
 * The audit log as the public sees it: GET /audit/checkpoint serves the latest signed checkpoint (docs/audit.md).
 * With the local store at hand, the checkpoint's signature is verified with the log key the store holds and
 * its size compared with the stored log, so a service running on another store than the config names shows.
 */
import { isDkeError } from '../errors/index.js';
import { openCheckpoint, parseCheckpointBody, parseNote, noteVerifier } from '../transparency/index.js';
import type { ProbeResult } from './http-probe.js';
import type { StoredAuditState } from './key-inventory.js';
import { finding, plural, type Finding } from './types.js';

const ID = 'audit:checkpoint';

function reason(error: unknown): string {
  return isDkeError(error) ? error.message : 'unexpected error';
}

export function checkAuditCheckpoint(answer: ProbeResult, stored: StoredAuditState | undefined): Finding {
  if (!answer.ok)
    return finding(ID, 'fail', `GET /audit/checkpoint: ${answer.error}`, 'read the service log');
  if (answer.status === 404) {
    const empty = stored !== undefined && stored.records === 0;
    return finding(
      ID,
      empty ? 'ok' : 'warn',
      empty ? 'no checkpoint yet: the audit log is empty' : 'no audit checkpoint published yet',
      empty
        ? null
        : 'a new service publishes one within audit.log.checkpointIntervalSeconds of its first record; if it stays missing, read the service log',
    );
  }
  if (answer.status !== 200) {
    return finding(
      ID,
      'fail',
      `GET /audit/checkpoint answered ${answer.status}`,
      'read the service log (is the audit log readable?)',
    );
  }
  let size: bigint;
  let origin: string;
  let signatures: number;
  try {
    const note = stored?.logVerifierKey === undefined ? parseNote(answer.body) : undefined;
    const opened =
      stored?.logVerifierKey === undefined
        ? undefined
        : openCheckpoint(answer.body, noteVerifier(stored.logVerifierKey));
    const checkpoint = opened?.checkpoint ?? parseCheckpointBody(note?.body ?? '');
    size = checkpoint.size;
    origin = checkpoint.origin;
    signatures = (opened?.signatures ?? note?.signatures ?? []).length;
  } catch (error) {
    return finding(
      ID,
      'fail',
      `the published checkpoint does not verify: ${reason(error)}`,
      stored === undefined
        ? 'read the service log'
        : "the service signs with another log key than the store holds: does it run on the store the config names? Then run 'dke audit verify -c <config>'",
    );
  }
  const details: Record<string, unknown> = { origin, size: Number(size), signatures };
  if (stored === undefined) {
    return finding(
      ID,
      'ok',
      `checkpoint of ${size} records published by ${origin} (${plural(signatures, 'signature')})`,
      null,
      details,
    );
  }
  details.storedRecords = stored.records;
  details.checkpointLag = stored.treeSize - Number(size);
  if (stored.newestCosignatureAt !== undefined) {
    details.newestCosignatureAgeSeconds = Math.round(Date.now() / 1000 - stored.newestCosignatureAt);
  }
  if (Number(size) > stored.treeSize) {
    return finding(
      ID,
      'fail',
      `the published checkpoint covers ${size} records, the store holds ${stored.treeSize}`,
      'the service runs on another store than the config names (or the store was restored from an old backup: docs/audit.md)',
      details,
    );
  }
  return finding(
    ID,
    'ok',
    `checkpoint of ${size} of ${stored.records} records, signed by the store's log key (${plural(signatures, 'signature')})`,
    null,
    details,
  );
}
