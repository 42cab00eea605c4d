/**
 * The service's structured logger (pino, JSON lines). Request bodies are never logged; the request
 * serializer keeps method, path without query, client address and id; redaction covers every field
 * name that could carry a credential or key material should one ever be logged.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'stanza',
  'share',
  'value',
  'privateKey',
  'privateKeyPem',
  '*.authorization',
  '*.token',
  '*.stanza',
  '*.share',
  '*.value',
  '*.privateKey',
  '*.privateKeyPem',
];

interface LoggedRequest {
  readonly id?: unknown;
  readonly method?: string;
  readonly url?: string;
  readonly ip?: string;
  readonly routeOptions?: { readonly url?: string };
}

function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  return {
    id: req.id,
    method: req.method,
    // Query strings are the client's to fill and are never needed to follow a request.
    path: req.url?.split('?')[0],
    route: req.routeOptions?.url,
    client: req.ip,
  };
}

function serializeResponse(res: { readonly statusCode?: number }): Record<string, unknown> {
  return { status: res.statusCode };
}

/** `bindings` go on every line (a cluster worker's number: `worker`). */
export function createLogger(
  level: LogLevel,
  destination?: DestinationStream,
  bindings: Readonly<Record<string, unknown>> = {},
): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { req: serializeRequest, res: serializeResponse, err: pino.stdSerializers.err },
      base: { service: 'opendke', ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
