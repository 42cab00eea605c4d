/**
 * A real store holding a scripted incident: 30 days of ordinary activity (the baseline), then one day
 * (the window) with a normal user, a spike with a new address at an unusual hour, refusals of an unknown
 * subject whose names carry HTML, and admin changes.
 */
import { StoreAuditLog } from '../../src/audit/index.js';
import type { AuditEvent, AuditRecord } from '../../src/service/contracts.js';
import { openSqliteStore } from '../../src/store/index.js';

export const ISSUER = 'https://idp.example/';
export const SINCE = '2026-03-10T00:00:00.000Z';
export const UNTIL = '2026-03-11T00:00:00.000Z';
export const EVIL_SUBJECT = '<script>alert("x")</script>';
export const EVIL_USER = `o'brien"<b>@evil.example`;
export const EVIL_REQUEST = '<img src=x onerror=alert(1)>';
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const baselineStart = Date.parse(SINCE) - 30 * DAY;

const release = (
  subject: string,
  objectId: string,
  clientAddress: string,
  requestId: string,
): AuditEvent => ({
  action: 'native.unwrap',
  result: 'allowed',
  issuer: ISSUER,
  subject,
  userName: `${subject.replace('-sub', '')}@example.com`,
  keyName: 'finance',
  keyVersion: 1,
  objectId,
  clientAddress,
  requestId,
});

/** Appends the scenario to the store at `dbPath` (created if needed); returns the committed records. */
export async function writeIncident(dbPath: string): Promise<AuditRecord[]> {
  const store = openSqliteStore(dbPath);
  let now = 0;
  const log = new StoreAuditLog(store, { now: () => new Date(now) });
  const appended: Promise<AuditRecord>[] = [];
  const at = (time: number, event: AuditEvent): void => {
    now = time;
    appended.push(log.append(event));
  };
  for (let day = 0; day < 30; day += 1) {
    const d = baselineStart + day * DAY;
    at(d + 9 * HOUR, release('bob-sub', 'obj-2', '198.51.100.7', `b${day}`));
    at(d + 10 * HOUR, release('alice-sub', 'obj-1', '192.0.2.1', `a${day}-1`));
    at(d + 10 * HOUR + MINUTE, release('alice-sub', 'obj-1', '192.0.2.1', `a${day}-2`));
    if (day === 5)
      at(d + 14 * HOUR, {
        action: 'admin.key.get',
        result: 'ok',
        issuer: ISSUER,
        subject: 'admin-sub',
        keyName: 'finance',
        clientAddress: '192.0.2.50',
      });
  }
  const w = Date.parse(SINCE);
  at(w + 3 * HOUR, release('bob-sub', 'obj-2', '203.0.113.9', 'night'));
  for (let i = 0; i < 30; i += 1)
    at(w + 9 * HOUR + i * MINUTE, release('bob-sub', 'obj-2', '198.51.100.7', `spike${i}`));
  at(w + 10 * HOUR, release('alice-sub', 'obj-1', '192.0.2.1', 'aw1'));
  at(w + 10 * HOUR + MINUTE, release('alice-sub', 'obj-1', '192.0.2.1', 'aw2'));
  for (let i = 0; i < 2; i += 1)
    at(w + 11 * HOUR + i * MINUTE, {
      action: 'native.unwrap',
      result: 'denied',
      reason: 'not in the key policy',
      issuer: ISSUER,
      subject: EVIL_SUBJECT,
      userName: EVIL_USER,
      keyName: 'finance',
      objectId: 'obj-1',
      clientAddress: '203.0.113.66',
      requestId: EVIL_REQUEST,
    });
  at(w + 14 * HOUR, {
    action: 'admin.policy.set',
    result: 'ok',
    issuer: ISSUER,
    subject: 'admin-sub',
    keyName: 'finance',
    clientAddress: '192.0.2.50',
    requestId: 'p1',
  });
  at(w + 14 * HOUR + 5 * MINUTE, {
    action: 'admin.key.list',
    result: 'ok',
    issuer: ISSUER,
    subject: 'admin-sub',
    clientAddress: '192.0.2.50',
  });
  at(w + 15 * HOUR, {
    action: 'cli.key.rotate',
    result: 'ok',
    issuer: 'local-cli',
    subject: 'root',
    keyName: 'finance',
    keyVersion: 2,
  });
  // After the window: never in the report.
  at(Date.parse(UNTIL), release('alice-sub', 'obj-9', '192.0.2.1', 'late'));
  await log.flush();
  try {
    return await Promise.all(appended);
  } finally {
    await log.close();
    await store.close();
  }
}
