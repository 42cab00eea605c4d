/**
 * Audit log performance, opt-in: DKE_AUDIT_BENCH=1 node --test dist/test/audit/audit-bench.test.js
 * Targets (docs/audit.md): verify 1,000,000 records in under 10 s; group commit far above one fsync per append.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { auditRecordHash, GENESIS_HASH, StoreAuditLog } from '../../src/audit/index.js';
import { openSqliteStore, type AuditRow } from '../../src/store/index.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';

const enabled = process.env.DKE_AUDIT_BENCH === '1';
const RECORDS = Number(process.env.DKE_AUDIT_BENCH_RECORDS ?? 1_000_000);

function syntheticRow(seq: number, prevHash: string): AuditRow {
  const fields = {
    seq,
    time: new Date(1_735_689_600_000 + seq).toISOString(),
    prevHash,
    action: 'native.unwrap',
    result: 'allowed',
    reason: null,
    issuer: 'https://login.microsoftonline.com/5f3c0c54-2b1e-4d1e-9b5a-4c7f0f2f7f2a/v2.0',
    subject: `user-${seq % 5000}`,
    userName: `user${seq % 5000}@example.com`,
    keyName: `key-${seq % 20}`,
    keyVersion: 1,
    keyId: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
    objectId: Buffer.alloc(16, seq % 251).toString('base64url'),
    clientAddress: '192.0.2.17',
    requestId: `req-${seq}`,
  };
  return { ...fields, hash: auditRecordHash(fields) };
}

void test('audit benchmark', { skip: !enabled && 'set DKE_AUDIT_BENCH=1' }, async () => {
  const dir = makeTempDir();
  const store = openSqliteStore(path.join(dir, 'bench.db'));
  try {
    let started = performance.now();
    let prevHash = GENESIS_HASH;
    for (let seq = 1; seq <= RECORDS;) {
      const batch: AuditRow[] = [];
      for (const end = Math.min(RECORDS, seq + 9_999); seq <= end; seq += 1) {
        const row = syntheticRow(seq, prevHash);
        prevHash = row.hash;
        batch.push(row);
      }
      await store.appendAuditRows(() => batch);
    }
    const fillSeconds = (performance.now() - started) / 1000;

    const audit = new StoreAuditLog(store);
    started = performance.now();
    const cpuBefore = process.cpuUsage();
    const verification = await audit.verify();
    const verifySeconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const verifyCpuSeconds = (cpu.user + cpu.system) / 1e6;
    assert.equal(verification.ok, true);
    assert.equal(verification.records, RECORDS);

    const measureAppends = async (total: number, concurrency: number): Promise<number> => {
      const begin = performance.now();
      let issued = 0;
      const worker = async (): Promise<void> => {
        while (issued < total) {
          issued += 1;
          await audit.append({
            action: 'native.unwrap',
            result: 'allowed',
            subject: 'bench',
            requestId: `r${issued}`,
          });
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      return total / ((performance.now() - begin) / 1000);
    };
    const sequential = await measureAppends(2_000, 1);
    const grouped = await measureAppends(50_000, 200);
    const queried = (await audit.query({ identity: 'user42@example.com', limit: 100 })).length;

    const report = {
      records: RECORDS,
      fillSeconds: +fillSeconds.toFixed(2),
      verifySeconds: +verifySeconds.toFixed(2),
      verifyCpuSeconds: +verifyCpuSeconds.toFixed(2),
      appendsPerSecondSequential: Math.round(sequential),
      appendsPerSecondGroupCommit200: Math.round(grouped),
      queryRows: queried,
    };
    console.log(`audit bench: ${JSON.stringify(report)}`);
    if (RECORDS >= 1_000_000) assert.ok(verifySeconds < 10, `verify took ${verifySeconds} s`);
  } finally {
    await store.close();
    removeDir(dir);
  }
});
