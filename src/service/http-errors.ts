/**
 * How any error becomes an HTTP answer: DkeError → its registry status, code and public message; Fastify's
 * own request errors (bad JSON, too large, wrong media type, schema) → the matching registry code; anything
 * else → 500 ERR_INTERNAL. Internal text (DkeError.detail, library messages, stacks) never leaves here.
 */
import type { FastifyError } from 'fastify';
import { DkeError, ERRORS, type ErrorCode } from '../errors/index.js';

export interface HttpProblem {
  readonly status: number;
  readonly code: ErrorCode;
  /** Public text only. */
  readonly message: string;
  /** Answer with the status alone (the MS DKE protocol's 403). */
  readonly emptyBody?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A protocol's adjustments to the generic mapping (route config `problem`). */
export type ProblemMapper = (problem: HttpProblem) => HttpProblem;

export function problem(code: ErrorCode, message?: string): HttpProblem {
  return { status: ERRORS[code].status, code, message: message ?? ERRORS[code].message };
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as FastifyError).code === 'string' && 'statusCode' in error;
}

/** `body.stanza must be string`: derived from our own route schemas, so safe to show. */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (first === undefined) return ERRORS.ERR_BAD_REQUEST.message;
  const params = first.params;
  const where = [error.validationContext ?? 'request', ...first.instancePath.split('/').slice(1)].join('.');
  if (first.keyword === 'required') return `${where}.${String(params.missingProperty)} is required`;
  if (first.keyword === 'additionalProperties') {
    return `${where}.${String(params.additionalProperty)} is not allowed`;
  }
  return `${where} ${first.message ?? 'is invalid'}`;
}

function fromFastify(error: FastifyError): HttpProblem | undefined {
  if (error.validation !== undefined) return problem('ERR_BAD_REQUEST', validationMessage(error));
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem('ERR_PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem('ERR_UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem('ERR_BAD_REQUEST', 'request body is not valid JSON');
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return problem('ERR_PAYLOAD_TOO_LARGE');
  if (status === 415) return problem('ERR_UNSUPPORTED_MEDIA_TYPE');
  if (status === 408) return problem('ERR_TIMEOUT');
  if (status === 404) return problem('ERR_NOT_FOUND');
  // Other client errors Fastify detects (bad content length, prototype poisoning, bad URL) keep the generic text.
  if (status >= 400 && status < 500) return problem('ERR_BAD_REQUEST');
  return undefined;
}

export function problemOf(error: unknown): HttpProblem {
  if (error instanceof DkeError) return { status: error.status, code: error.code, message: error.message };
  if (isFastifyError(error)) return fromFastify(error) ?? problem('ERR_INTERNAL');
  return problem('ERR_INTERNAL');
}
