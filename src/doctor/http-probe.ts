/**
 * One bounded HTTP(S) request for the doctor's checks: a timeout over the whole exchange, a size cap, no
 * redirects followed, and every failure turned into a plain sentence (an unreachable host is a finding,
 * never a crash or a hang). For the service's own URL the TLS connection is inspected rather than refused,
 * so the certificate check can say what is wrong with it.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { rootCertificates, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';

/** Discovery documents, key sets, key answers and health answers are small; more is not one of them. */
const DEFAULT_MAX_BYTES = 1024 * 1024;

export interface ProbeOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** Extra trusted CA certificates (PEM), besides the system's. */
  readonly ca?: string;
  /** Accept any certificate and report on it (the service's own URL); otherwise refuse a bad one. */
  readonly inspectTls?: boolean;
  readonly maxBytes?: number;
}

export interface TlsInfo {
  /** The chain verified against the trusted CAs (host name not included: see checkServerIdentity). */
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
  readonly certificate: DetailedPeerCertificate | undefined;
  readonly protocol: string | null;
}

export interface ProbeAnswer {
  readonly ok: true;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Local clock (ms) when the request was sent and when the answer's head arrived, for clock skew. */
  readonly sentAt: number;
  readonly receivedAt: number;
  readonly tls: TlsInfo | undefined;
}

export interface ProbeFailure {
  readonly ok: false;
  /** A sentence for people: "connection refused", "no answer within 5000 ms", ... */
  readonly error: string;
  /** The system or TLS error code when there is one (ECONNREFUSED, CERT_HAS_EXPIRED, ...). */
  readonly code: string | undefined;
}

export type ProbeResult = ProbeAnswer | ProbeFailure;

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (nothing listens on that port)',
  ENOTFOUND: 'host name not found in DNS',
  EAI_AGAIN: 'host name lookup failed (DNS unreachable?)',
  ECONNRESET: 'connection reset by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPROTO: 'TLS handshake failed (is it really HTTPS on that port?)',
};

function failure(error: unknown): ProbeFailure {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const reason = code === undefined ? undefined : REASONS[code];
  return { ok: false, error: reason ?? message, code };
}

function tlsInfo(socket: TLSSocket): TlsInfo {
  const certificate = socket.getPeerCertificate(true);
  const authorizationError = socket.authorizationError as unknown;
  return {
    authorized: socket.authorized,
    // Node gives the OpenSSL code as a string (typed as an Error).
    authorizationError:
      typeof authorizationError === 'string'
        ? authorizationError
        : authorizationError instanceof Error
          ? ((authorizationError as NodeJS.ErrnoException).code ?? authorizationError.message)
          : undefined,
    certificate: Object.keys(certificate).length === 0 ? undefined : certificate,
    protocol: socket.getProtocol(),
  };
}

/** Sends one request; resolves with the answer or a failure, never rejects, never waits past the timeout. */
export function probe(url: string, options: ProbeOptions): Promise<ProbeResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, error: `not a URL: ${url}`, code: undefined });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.resolve({ ok: false, error: `not an http(s) URL: ${url}`, code: undefined });
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    const settle = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const sentAt = Date.now();
    const headers = { accept: 'application/json', ...options.headers };
    const request =
      target.protocol === 'https:'
        ? https.request(target, {
            method: options.method ?? 'GET',
            headers,
            agent: false,
            rejectUnauthorized: options.inspectTls !== true,
            // An extra CA adds to the system's roots rather than replacing them.
            ...(options.ca === undefined ? {} : { ca: [...rootCertificates, options.ca] }),
          })
        : http.request(target, { method: options.method ?? 'GET', headers, agent: false });
    const timer = setTimeout(() => {
      settle({ ok: false, error: `no answer within ${options.timeoutMs} ms`, code: 'TIMEOUT' });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error) => settle(failure(error)));
    request.on('response', (response) => {
      const receivedAt = Date.now();
      const socket = response.socket as TLSSocket;
      const tls = target.protocol === 'https:' ? tlsInfo(socket) : undefined;
      const chunks: Buffer[] = [];
      let total = 0;
      response.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBytes) {
          settle({ ok: false, error: `answer larger than ${maxBytes} bytes`, code: 'TOO_LARGE' });
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => settle(failure(error)));
      response.on('end', () =>
        settle({
          ok: true,
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          sentAt,
          receivedAt,
          tls,
        }),
      );
    });
    request.end(options.body);
  });
}
