/**
 * Public routes of our audit log's transparency (docs/protocol.md "Audit log transparency"), no auth:
 * checkpoints reveal only a tree size and root.
 *   GET /audit/checkpoint                  latest persisted checkpoint note + stored cosignatures
 *   GET /audit/consistency?old=M&new=N     RFC 6962 consistency proof, one base64 hash a line
 */
import { DkeError } from '../errors/index.js';
import type { DkeApp } from './app.js';
import type { LogTransparency } from './log-transparency.js';

/** A tree size in a query string: decimal digits, no sign, no leading zero (no type coercion). */
const treeSizeParam = { type: 'string', pattern: '^(0|[1-9][0-9]{0,15})$' } as const;

interface ConsistencyQuery {
  readonly old: string;
  readonly new: string;
}

function treeSize(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new DkeError('ERR_BAD_REQUEST', { message: `querystring.${name} is too large` });
  }
  return value;
}

export function registerTransparencyRoutes(app: DkeApp, transparency: LogTransparency): void {
  app.get(
    '/audit/checkpoint',
    { schema: { querystring: { type: 'object', additionalProperties: false } } },
    async (_request, reply) => {
      const note = await transparency.publishedCheckpoint();
      if (note === undefined) {
        throw new DkeError('ERR_NOT_FOUND', { message: 'no checkpoint has been published yet' });
      }
      return reply.type('text/plain; charset=utf-8').send(note);
    },
  );

  app.get<{ Querystring: ConsistencyQuery }>(
    '/audit/consistency',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['old', 'new'],
          properties: { old: treeSizeParam, new: treeSizeParam },
        },
      },
    },
    async (request, reply) => {
      const proof = await transparency.consistencyProof(
        treeSize(request.query.old, 'old'),
        treeSize(request.query.new, 'new'),
      );
      return reply
        .type('text/plain; charset=utf-8')
        .send(proof.map((hash) => `${hash.toString('base64')}\n`).join(''));
    },
  );
}
