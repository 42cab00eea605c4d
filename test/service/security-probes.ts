/** Reading what the operator sees of failed authentications: security events, metrics, eventually. */
import assert from 'node:assert/strict';
import type { SecurityEvent } from '../../src/security-events/index.js';
import type { Harness } from './harness.js';

/** GET /admin/security-events with an admin token. */
export async function securityEvents(h: Harness, admin: string, query = ''): Promise<SecurityEvent[]> {
  const answer = await h.request('GET', `/admin/security-events${query}`, { token: admin });
  assert.equal(answer.status, 200, answer.text);
  return answer.json?.events as SecurityEvent[];
}

/** Events are written in batches off the request path: reads until `ok` (at most ~4 s), then returns. */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i += 1) {
    const value = await read();
    if (ok(value) || i === 40) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The value of the first /metrics line matching `pattern` (0 when there is none). */
export async function metricValue(h: Harness, pattern: RegExp): Promise<number> {
  const text = (await h.request('GET', '/metrics')).text;
  const line = text.split('\n').find((l) => pattern.test(l));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}
