/** Schemas of GET /admin/security-events (docs/protocol.md). */
import { MAX_SECURITY_EVENT_TEXT_CHARS } from '../security-events/index.js';
import { decimalQueryParam } from './admin-schemas.js';

export interface SecurityEventsQuerystring {
  readonly since?: string;
  readonly address?: string;
  readonly reason?: string;
  readonly issuer?: string;
  readonly subject?: string;
  /** Decimal digits; parsed by the route, its range checked by src/security-events. */
  readonly limit?: string;
}

export const securityEventsQuerystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: { type: 'string', maxLength: 64 },
    address: { type: 'string', minLength: 1, maxLength: 64 },
    reason: { type: 'string', pattern: '^ERR_[A-Z0-9_]{1,60}$' },
    issuer: { type: 'string', minLength: 1, maxLength: MAX_SECURITY_EVENT_TEXT_CHARS },
    subject: { type: 'string', minLength: 1, maxLength: MAX_SECURITY_EVENT_TEXT_CHARS },
    limit: decimalQueryParam,
  },
} as const;

const eventSchema = {
  type: 'object',
  properties: {
    windowStart: { type: 'string' },
    clientAddress: { type: 'string' },
    reason: { type: 'string' },
    issuer: { type: 'string' },
    subject: { type: 'string' },
    count: { type: 'integer' },
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
  },
} as const;

export const securityEventsReply = {
  200: { type: 'object', properties: { events: { type: 'array', items: eventSchema } } },
} as const;
