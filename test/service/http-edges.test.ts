/**
 * The edges of HTTP over real sockets: bodies over the limit (with and without Content-Length), headers over
 * the limit, requests the HTTP parser refuses, requests that never finish. Every one of them must get a
 * registry error a real client (Node's fetch, http.request, a raw socket) can read.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { answerOf, startHarness, type Harness } from './harness.js';
import { assertError } from './assertions.js';
import { MAX_TOKEN_LENGTH } from '../../src/auth/bearer.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A JSON body of `size` bytes: `{"stanza":"xxx…"}`. */
function bigJson(size: number): string {
  const frame = '{"stanza":""}';
  return `{"stanza":"${'x'.repeat(size - frame.length)}"}`;
}

/** POSTs `size` bytes in 64 KiB pieces as a stream: fetch sends it chunked, without Content-Length. */
function chunkedBody(size: number): ReadableStream<Uint8Array> {
  const piece = new Uint8Array(64 * KiB).fill(0x20);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) {
        controller.close();
        return;
      }
      controller.enqueue(piece);
      sent += piece.length;
    },
  });
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

/** node:http client writing `size` body bytes with backpressure; resolves with the answer. */
function httpPost(
  baseUrl: string,
  urlPath: string,
  size: number,
  headers: Readonly<Record<string, string>> = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}${urlPath}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(size), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    const piece = Buffer.alloc(64 * KiB, 0x20);
    let written = 0;
    const write = (): void => {
      while (written < size) {
        const n = Math.min(piece.length, size - written);
        written += n;
        if (!req.write(piece.subarray(0, n))) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

/** Sends `text` on a raw connection and resolves with everything the server answers before it closes. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('server never closed the connection')));
  });
}

interface UploadResult {
  readonly answer: string;
  /** Body bytes the client had written when the first byte of the answer arrived. */
  readonly sentBeforeAnswer: number;
  readonly error: string | undefined;
}

/**
 * A client that sends its body slowly (one piece per tick) and reads the answer as soon as it comes: it shows
 * whether the server reads the whole body before answering, and whether the connection then closes cleanly
 * (no reset, which is what costs Node's fetch the answer when it happens while it is still sending).
 */
function slowUpload(port: number, head: string, pieces: readonly Buffer[]): Promise<UploadResult> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    let sentBeforeAnswer = -1;
    let error: string | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (sentBeforeAnswer < 0) sentBeforeAnswer = sent;
      answer += chunk;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => resolve({ answer, sentBeforeAnswer, error }));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer')));
    socket.write(head);
    let next = 0;
    const tick = (): void => {
      const piece = pieces[next++];
      if (piece === undefined || socket.destroyed || socket.writableEnded) return;
      socket.write(piece, () => (sent += piece.length));
      setTimeout(tick, 2);
    };
    tick();
  });
}

const piecesOf = (total: number, size: number): Buffer[] =>
  Array.from({ length: Math.ceil(total / size) }, () => Buffer.alloc(size, 0x20));

/** A raw HTTP/1.1 answer that must be a registry error, with `Connection: close`. */
function rawError(answer: string, status: number, code: string): void {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  assert.match(statusLine ?? '', new RegExp(`^HTTP/1\\.1 ${status} `), answer);
  const headers = new Map(
    lines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  assert.equal(headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(headers.get('content-length'), String(Buffer.byteLength(body)));
  assert.equal(headers.get('connection'), 'close');
  assert.equal(headers.get('cache-control'), 'no-store');
  const json = JSON.parse(body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json).sort(), ['error', 'message']);
  assert.equal(json.error, code);
}

describe('HTTP edges', () => {
  let h: Harness;
  let admin: string;
  let user: string;

  before(async () => {
    h = await startHarness({ server: { requestTimeoutMs: 2000 } });
    admin = await h.adminToken();
    user = await h.token({ upn: 'alice@example.test' });
  });
  after(() => h.close());

  describe('a body over server.bodyLimit: 413 the client can read', () => {
    for (const size of [256 * KiB, 1 * MiB, 3 * MiB]) {
      it(`fetch, Content-Length, ${size / KiB} KiB, native unwrap and admin`, async () => {
        for (const [urlPath, token] of [
          ['/keys/docs/unwrap', user],
          ['/admin/keys', admin],
        ] as const) {
          const response = await fetch(h.server.url + urlPath, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: bigJson(size),
          });
          const answer = await answerOf(response);
          assertError(answer, 'ERR_PAYLOAD_TOO_LARGE');
          assert.equal(answer.headers.get('connection'), 'close');
        }
      });
    }

    it('the body is read to its end before the answer; the connection then closes without a reset', async () => {
      const pieces = piecesOf(1 * MiB, 32 * KiB);
      const result = await slowUpload(
        h.server.port,
        `POST /keys/docs/unwrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MiB}\r\n\r\n`,
        pieces,
      );
      assert.equal(result.error, undefined);
      assert.equal(result.sentBeforeAnswer, MiB, 'answered before the body was read');
      rawError(result.answer, 413, 'ERR_PAYLOAD_TOO_LARGE');
    });

    it('the same for a chunked body', async () => {
      const chunks = piecesOf(1 * MiB, 32 * KiB).map((piece) =>
        Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]),
      );
      const result = await slowUpload(
        h.server.port,
        'POST /keys/docs/unwrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        [...chunks, Buffer.from('0\r\n\r\n')],
      );
      const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0) + 5;
      assert.equal(result.error, undefined);
      assert.equal(result.sentBeforeAnswer, total, 'answered before the body was read');
      rawError(result.answer, 413, 'ERR_PAYLOAD_TOO_LARGE');
    });

    it('a client that stops sending the rest of a too-large body gets 408 once requestTimeoutMs is over', async () => {
      const started = Date.now();
      const answer = await rawExchange(
        h.server.port,
        `POST /keys/docs/unwrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MiB}\r\n\r\n${'x'.repeat(100 * KiB)}`,
      );
      rawError(answer, 408, 'ERR_TIMEOUT');
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    it('fetch, chunked without Content-Length', async () => {
      const response = await fetch(`${h.server.url}/keys/docs/unwrap`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user}` },
        body: chunkedBody(2 * MiB),
        duplex: 'half',
      });
      assertError(await answerOf(response), 'ERR_PAYLOAD_TOO_LARGE');
    });

    it('http.request, Content-Length', async () => {
      const answer = await httpPost(h.server.url, '/keys/docs/unwrap', 2 * MiB);
      assert.equal(answer.status, 413, answer.text);
      assert.equal(answer.headers.connection, 'close');
      assert.deepEqual(JSON.parse(answer.text), {
        error: 'ERR_PAYLOAD_TOO_LARGE',
        message: 'request body too large',
      });
    });

    it('an unauthenticated admin call with a large body: 401, readable', async () => {
      const response = await fetch(`${h.server.url}/admin/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bigJson(2 * MiB),
      });
      assertError(await answerOf(response), 'ERR_AUTH_MISSING');
    });

    it('a body beyond the drain bound is not read: the connection closes, the service carries on', async () => {
      const started = Date.now();
      // The client may see the 413 or only the closed connection: both end the request quickly.
      await httpPost(h.server.url, '/keys/docs/unwrap', 64 * MiB).then(
        (answer) => assert.equal(answer.status, 413),
        (error: NodeJS.ErrnoException) => assert.match(error.code ?? '', /^(EPIPE|ECONNRESET)$/),
      );
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
      assert.equal((await h.request('GET', '/healthz')).status, 200);
    });
  });

  describe('headers over server.maxHeaderBytes', () => {
    it(`a token just over the token limit (${MAX_TOKEN_LENGTH / KiB} KiB) is "token too large", not a parser error`, async () => {
      const answer = await h.request('GET', '/admin/keys', { token: 'a'.repeat(20 * KiB) });
      assertError(answer, 'ERR_AUTH_INVALID');
      assert.equal(answer.json?.message, 'token too large');
    });

    it('a token of the largest accepted size beside other headers reaches the authenticator', async () => {
      const answer = await h.request('GET', '/admin/keys', {
        token: 'a'.repeat(MAX_TOKEN_LENGTH),
        headers: { cookie: 'c'.repeat(8 * KiB), 'user-agent': 'u'.repeat(2 * KiB) },
      });
      assertError(answer, 'ERR_AUTH_INVALID');
      assert.equal(answer.json?.message, 'invalid token');
    });

    for (const [label, headers] of [
      ['a 100 KiB Authorization header', { authorization: `Bearer ${'a'.repeat(100 * KiB)}` }],
      ['many headers', Object.fromEntries([...Array(200).keys()].map((i) => [`x-h${i}`, 'v'.repeat(200)]))],
    ] as const) {
      it(`${label}: 431 ERR_HEADERS_TOO_LARGE, readable by fetch`, async () => {
        const response = await fetch(`${h.server.url}/admin/keys`, { headers });
        const answer = await answerOf(response);
        assertError(answer, 'ERR_HEADERS_TOO_LARGE');
        assert.equal(answer.headers.get('connection'), 'close');
        assert.equal(answer.headers.get('cache-control'), 'no-store');
        assert.match(answer.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      });
    }

    it('raw: 431 with the registry body', async () => {
      const answer = await rawExchange(
        h.server.port,
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40 * KiB)}\r\n\r\n`,
      );
      rawError(answer, 431, 'ERR_HEADERS_TOO_LARGE');
    });

    it('after a pipelined request, whose answer comes first', async () => {
      const answer = await rawExchange(
        h.server.port,
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' +
          `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40 * KiB)}\r\n\r\n`,
      );
      const second = answer.indexOf('HTTP/1.1 431');
      assert.match(answer.slice(0, second), /^HTTP\/1\.1 200 [^]*"status":"ok"/);
      rawError(answer.slice(second), 431, 'ERR_HEADERS_TOO_LARGE');
    });

    it('the limit is configurable', async () => {
      const small = await startHarness({ server: { maxHeaderBytes: 20 * KiB } });
      try {
        const over = await small.request('GET', '/healthz', { headers: { 'x-big': 'b'.repeat(21 * KiB) } });
        assertError(over, 'ERR_HEADERS_TOO_LARGE');
        const under = await small.request('GET', '/healthz', { headers: { 'x-big': 'b'.repeat(18 * KiB) } });
        assert.equal(under.status, 200);
      } finally {
        await small.close();
      }
    });
  });

  describe('requests the HTTP parser refuses: registry JSON, connection closed', () => {
    for (const [label, text] of [
      ['a malformed request line', 'THIS IS NOT HTTP\r\n\r\n'],
      ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n'],
      ['an invalid Content-Length', 'POST /keys/x/unwrap HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n'],
      ['an unsupported HTTP version', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n'],
    ] as const) {
      it(label, async () => {
        rawError(await rawExchange(h.server.port, text), 400, 'ERR_BAD_REQUEST');
      });
    }

    it('a request that does not arrive within requestTimeoutMs: 408 ERR_TIMEOUT', async () => {
      const answer = await rawExchange(
        h.server.port,
        'POST /keys/x/unwrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sta',
      );
      rawError(answer, 408, 'ERR_TIMEOUT');
    });
  });
});
