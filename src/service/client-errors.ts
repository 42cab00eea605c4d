/**
 * Requests Node's HTTP parser refuses before Fastify ever sees them: headers over `server.maxHeaderBytes`
 * (431), a request line or header the parser cannot read (400), a request that did not arrive within
 * `server.requestTimeoutMs` (408). Without this, Node answers with an empty body and Fastify with its own
 * JSON; here the answer is a registry error like every other one.
 *
 * The client may still be sending (a 100 KiB header is one write on its side): closing the socket with
 * unread input makes the kernel send a reset, which can destroy the answer before the client reads it. So
 * the answer is followed by a half-close, and the rest of the input is discarded for a bounded time and
 * number of bytes before the socket is destroyed (a "lingering close").
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { problem, type HttpProblem } from './http-errors.js';

/** How long, and how many further bytes, a refused connection is read and discarded before it is destroyed. */
const LINGER_MS = 2_000;
const LINGER_MAX_BYTES = 1024 * 1024;

function problemOfParserError(code: string | undefined): HttpProblem {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return problem('ERR_HEADERS_TOO_LARGE');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return problem('ERR_TIMEOUT');
    default:
      return problem('ERR_BAD_REQUEST', 'request is not valid HTTP/1.1');
  }
}

/** A complete HTTP/1.1 answer: the registry body, the headers every answer carries, and `Connection: close`. */
function rawAnswer(answer: HttpProblem, requestId: string): string {
  const body = JSON.stringify({ error: answer.code, message: answer.message });
  return [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    'x-content-type-options: nosniff',
    `x-request-id: ${requestId}`,
    'connection: close',
    '',
    body,
  ].join('\r\n');
}

export interface ClientErrorHandler {
  /** For Fastify's `clientErrorHandler` option. */
  readonly handle: (error: Error & { code?: string }, socket: Socket) => void;
  /** Call for every request (onRequest): a refusal must not overtake or interrupt the socket's current answer. */
  readonly track: (request: IncomingMessage, response: ServerResponse) => void;
}

interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
}

export function createClientErrorHandler(log: FastifyBaseLogger | undefined): ClientErrorHandler {
  const exchanges = new WeakMap<Socket, Exchange>();
  /** Sockets already answered, with the input byte count at that moment (the parser errors on every later chunk). */
  const answered = new WeakMap<Socket, number>();

  function handle(error: Error & { code?: string }, socket: Socket): void {
    if (socket.destroyed || error.code === 'ECONNRESET') return;
    const answeredAt = answered.get(socket);
    if (answeredAt !== undefined) {
      if (socket.bytesRead - answeredAt > LINGER_MAX_BYTES) socket.destroy();
      return;
    }
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const answer = problemOfParserError(error.code);
    const requestId = randomUUID();
    log?.info(
      { reqId: requestId, code: answer.code, parserError: error.code },
      'request refused by the HTTP parser',
    );
    answered.set(socket, socket.bytesRead);
    const send = (): void => {
      socket.end(rawAnswer(answer, requestId));
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    };
    const current = exchanges.get(socket);
    if (current === undefined || current.response.writableFinished) {
      send();
    } else if (current.request.complete) {
      // A pipelined request before this one is still being answered: the refusal follows its answer.
      current.response.once('finish', send);
    } else if (!current.response.headersSent) {
      // The request being received is the one refused (it timed out, or its body is malformed).
      send();
    } else {
      // Its answer is already on the wire and cannot be followed by another one.
      socket.destroy();
    }
  }

  return { handle, track: (request, response) => exchanges.set(request.socket, { request, response }) };
}
