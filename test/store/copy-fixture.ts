/**
 * A store that looks like one a key service has run on for a while, written through the real key manager,
 * audit log, checkpointer and note keys (so sealed material, hashes, roots and signatures are all genuine):
 * keys of several specs and both protocols, a rotated key, a disabled one, a destroyed one, policies,
 * revoked objects, thousands of audit records, signed checkpoints with witness cosignatures, witnessed logs
 * and security events. For the `dke store copy` tests, on any backend.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { auditRecordHash, Checkpointer, StoreAuditLog } from '../../src/audit/index.js';
import {
  assertMasterKeyMatches,
  KeyManager,
  serviceNoteKey,
  type MasterKey,
} from '../../src/keystore/index.js';
import type { KeyPolicy, Principal } from '../../src/service/contracts.js';
import type { AuditRow, AuditTail, DkeStore, SecurityEventRow } from '../../src/store/index.js';
import {
  cosign,
  generateSignerKey,
  KEY_TYPE_COSIGNATURE_V1,
  parseNote,
  parseSignerKey,
} from '../../src/transparency/index.js';
import { sharedDir } from '../support/paths.js';

export const LOG_NAME = 'copy.test/log';
export const WITNESS_NAME = 'copy.test/witness';

export const ALICE: Principal = {
  issuer: 'https://login.example.com/tenant-a/v2.0',
  subject: 'alice-sub',
  tenant: 'tenant-a',
  userIds: ['sub:alice-sub', 'alice@example.com'],
  userName: 'alice@example.com',
  groups: ['finance'],
  roles: [],
  isAdmin: false,
};

const FINANCE: KeyPolicy = { users: [], groups: ['finance'], roles: [], tenants: ['tenant-a'] };
const ALICE_ONLY: KeyPolicy = {
  users: ['alice@example.com', 'sub:alice-sub'],
  groups: [],
  roles: ['reader'],
  tenants: [],
};

const objectId = (n: number): string => Buffer.alloc(16, n).toString('base64url');

export interface FilledStore {
  /** Records in the audit log. */
  readonly records: number;
  readonly checkpoints: number;
  readonly cosignatures: number;
  /** Enabled keys Alice may use: name and active key id. */
  readonly usable: readonly { name: string; keyId: string }[];
  /** Enabled, with the empty policy (refuses everyone). */
  readonly unpoliced: { name: string; keyId: string };
  readonly disabled: string;
  readonly destroyed: string;
  /** The verifier keys of the service's note keys (sealed in the store). */
  readonly logVkey: string;
  readonly witnessVkey: string;
}

function securityEvents(count: number): SecurityEventRow[] {
  return Array.from({ length: count }, (_, k) => {
    const minute = new Date(Date.UTC(2025, 0, 1, 0, k)).toISOString();
    return {
      windowStart: minute,
      clientAddress: `192.0.2.${k % 7}`,
      reason: k % 3 === 0 ? 'ERR_AUTH_MISSING' : 'ERR_AUTH_INVALID',
      issuer: k % 4 === 0 ? 'https://login.example.com/tenant-a/v2.0' : '',
      subject: k % 4 === 0 ? `sub-${k}` : '',
      count: 1 + (k % 5),
      firstSeen: minute,
      lastSeen: minute,
    };
  });
}

/**
 * Fills an empty, open store. `records` audit records in all (at least 100), with checkpoints at three
 * sizes, each cosigned by two witnesses.
 */
export async function fillStore(
  store: DkeStore,
  masterKey: MasterKey,
  records: number,
): Promise<FilledStore> {
  await assertMasterKeyMatches(store, masterKey);
  const keys = new KeyManager(store, masterKey);
  const audit = new StoreAuditLog(store, { maxBatch: 500 });
  try {
    const logKey = await serviceNoteKey(store, masterKey, 'audit-log', LOG_NAME);
    const witnessKey = await serviceNoteKey(store, masterKey, 'witness', WITNESS_NAME);

    await keys.create('alpha', { spec: 'P-256', cacheSeconds: 300 });
    const alpha = await keys.rotate('alpha', { spec: 'P-384' });
    const pem = fs.readFileSync(path.join(sharedDir, 'vectors', 'ms-dke', 'private_key.pkcs1.pem'), 'utf8');
    const bravo = await keys.import('bravo', pem, { protocol: 'ms-dke' });
    const charlie = await keys.create('charlie', { spec: 'P-521' });
    await keys.create('delta', { spec: 'P-256' });
    await keys.create('echo', { spec: 'P-256' });
    await keys.rotate('echo');
    await keys.setPolicy('alpha', FINANCE);
    await keys.setPolicy('bravo', ALICE_ONLY);
    await keys.setPolicy('delta', FINANCE);
    await keys.setCacheSeconds('charlie', 3600);
    await keys.revokeObject('alpha', objectId(1));
    await keys.revokeObject('alpha', objectId(2));
    await keys.revokeObject('bravo', objectId(3));
    await keys.revokeObject('echo', objectId(4));
    await keys.disable('delta');
    await keys.destroy('echo');

    const checkpointer = await Checkpointer.open({
      log: audit,
      store,
      signer: logKey.signer,
      intervalSeconds: 3600,
    });
    const otherWitness = parseSignerKey(
      generateSignerKey('other.test/witness', KEY_TYPE_COSIGNATURE_V1).signerKey,
    );
    const witnesses = [witnessKey.signer, otherWitness];
    let cosignatures = 0;
    const checkpointAt = new Set([Math.floor(records / 3), Math.floor((2 * records) / 3), records]);
    const pending: Promise<unknown>[] = [];
    for (let seq = 1; seq <= records; seq++) {
      const who =
        seq % 11 === 0 ? { subject: `sub-${seq}`, userName: `Zoë.${seq}@example.com`.toLowerCase() } : {};
      pending.push(
        audit.append({
          action: seq % 5 === 0 ? 'ms-dke.decrypt' : 'native.unwrap',
          result: seq % 13 === 0 ? 'denied' : 'allowed',
          ...(seq % 13 === 0 ? { reason: 'ERR_FORBIDDEN' } : {}),
          issuer: 'https://login.example.com/tenant-a/v2.0',
          ...who,
          keyName: seq % 5 === 0 ? 'bravo' : 'alpha',
          keyVersion: 1,
          keyId: seq % 5 === 0 ? bravo.versions[0]?.keyId : alpha.versions[1]?.keyId,
          objectId: objectId(seq % 200),
          clientAddress: seq % 2 === 0 ? '192.0.2.10' : '2001:db8::1',
          requestId: crypto.randomUUID(),
        }),
      );
      if (checkpointAt.has(seq)) {
        await Promise.all(pending.splice(0));
        const row = await checkpointer.persist();
        const body = parseNote(row.note).body;
        for (const [k, witness] of witnesses.entries()) {
          const timestamp = 1_750_000_000 + seq + k;
          await store.storeCosignature({
            size: row.size,
            witnessName: witness.name,
            keyHash: Buffer.from(witness.keyHash),
            line: cosign(body, witness, timestamp),
            timestamp,
          });
          cosignatures += 1;
        }
      }
    }
    await Promise.all(pending);
    await audit.flush();

    await store.compareAndSetWitnessedLog(
      'other.example/log',
      0n,
      4242n,
      crypto.randomBytes(32),
      '2025-02-01T00:00:00.000Z',
    );
    await store.compareAndSetWitnessedLog(
      'big.example/log',
      0n,
      2n ** 62n + 3n,
      crypto.randomBytes(32),
      '2025-02-02T00:00:00.000Z',
    );
    await store.recordSecurityEvents(securityEvents(120), {
      maxRows: 10_000,
      notBefore: '2024-01-01T00:00:00.000Z',
    });

    return {
      records,
      checkpoints: checkpointAt.size,
      cosignatures,
      usable: [
        { name: 'alpha', keyId: alpha.versions[1]?.keyId as string },
        { name: 'bravo', keyId: bravo.versions[0]?.keyId as string },
      ],
      unpoliced: { name: 'charlie', keyId: charlie.versions[0]?.keyId as string },
      disabled: 'delta',
      destroyed: 'echo',
      logVkey: logKey.verifierKey,
      witnessVkey: witnessKey.verifierKey,
    };
  } finally {
    await audit.close();
  }
}

/** Audit rows with genuine hashes, appended in large batches (fast), for the memory test. */
export async function appendRecords(store: DkeStore, count: number): Promise<void> {
  let tail: AuditTail | undefined;
  for (let done = 0; done < count;) {
    const rows: AuditRow[] = [];
    for (const end = Math.min(count, done + 5000); done < end; done++) {
      const seq = done + 1;
      const fields = {
        seq,
        time: new Date(Date.UTC(2025, 0, 1) + seq * 1000).toISOString(),
        prevHash: tail?.hash ?? '0'.repeat(64),
        action: 'native.unwrap',
        result: 'allowed',
        reason: null,
        issuer: 'https://login.example.com/tenant-a/v2.0',
        subject: `subject-${seq % 97}`,
        userName: `user${seq % 97}@example.com`,
        keyName: 'alpha',
        keyVersion: 1,
        keyId: 'k'.repeat(43),
        objectId: Buffer.alloc(16, seq % 256).toString('base64url'),
        clientAddress: '192.0.2.7',
        requestId: crypto.randomUUID(),
      };
      const row: AuditRow = { ...fields, hash: auditRecordHash(fields) };
      rows.push(row);
      tail = { seq, hash: row.hash };
    }
    await store.appendAuditRows(() => rows);
  }
}
