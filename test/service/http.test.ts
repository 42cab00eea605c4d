/** Service-wide HTTP behaviour: health, metrics, unknown routes, headers, request timeouts. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { connect } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from './harness.js';
import { assertError } from './assertions.js';
import { repoRoot } from '../support/paths.js';

const FIXTURES = path.join(repoRoot, 'test', 'service', 'fixtures');

/** Sends `text` on a raw connection and resolves with whatever the server answers before it closes. */
function rawExchange(port: number, text: string): Promise<{ answer: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve({ answer, ms: Date.now() - started }));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('server never closed the connection')));
  });
}

describe('HTTP service', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ server: { requestTimeoutMs: 500 } });
  });
  after(() => h.close());

  it('GET /healthz', async () => {
    const answer = await h.request('GET', '/healthz');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json, { status: 'ok', store: 'ok' });
    assert.match(answer.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
  });

  it('unknown routes and methods: 404 small JSON', async () => {
    assertError(await h.request('GET', '/a/b/c/d'), 'ERR_NOT_FOUND');
    assertError(await h.request('DELETE', '/healthz'), 'ERR_NOT_FOUND');
  });

  it('malformed URLs: 400 small JSON that does not echo the URL', async () => {
    for (const urlPath of ['/keys/%zz', `/${'a'.repeat(300)}`, `/keys/${'b'.repeat(300)}/unwrap`]) {
      const answer = await h.request('GET', urlPath);
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.ok(
        !answer.text.includes('zz') && !answer.text.includes('aaaa') && !answer.text.includes('bbbb'),
      );
    }
  });

  it('GET /metrics: request counts by route pattern and status, latency histogram', async () => {
    await h.request('GET', '/keys/missing-key');
    const answer = await h.request('GET', '/metrics');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(answer.text, /dke_http_requests_total\{route="\/keys\/:name",method="GET",status="404"\} 1/);
    assert.match(
      answer.text,
      /dke_http_request_duration_seconds_bucket\{le="0\.005",route="\/healthz",method="GET"\}/,
    );
    assert.doesNotMatch(answer.text, /missing-key/, 'raw URLs are not labels');
  });

  it('a client that never finishes its request is cut off after requestTimeoutMs', async () => {
    const { answer, ms } = await rawExchange(
      h.server.port,
      'POST /keys/x/unwrap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sta',
    );
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.ok(ms >= 400 && ms < 3000, `took ${ms} ms`);
  });
});

describe('HTTPS', () => {
  it('serves TLS with the configured certificate and key', async () => {
    const h = await startHarness({
      server: {
        tls: { certFile: path.join(FIXTURES, 'tls-cert.pem'), keyFile: path.join(FIXTURES, 'tls-key.pem') },
      },
    });
    try {
      assert.match(h.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const body = await new Promise<string>((resolve, reject) => {
        get(`${h.server.url}/healthz`, { ca: readFileSync(path.join(FIXTURES, 'tls-cert.pem')) }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      assert.deepEqual(JSON.parse(body), { status: 'ok', store: 'ok' });
      // Plain HTTP on the TLS port gets no answer a client could mistake for the service.
      const { answer } = await rawExchange(h.server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.doesNotMatch(answer, /"status":"ok"/);
    } finally {
      await h.close();
    }
  });
});
