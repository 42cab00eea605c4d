/**
 * The witness protocol, C2SP tlog-witness (docs/audit.md, "Witnessing other logs"):
 *   POST /witness/add-checkpoint   a log submits a checkpoint and a consistency proof; answer: cosignature
 * No bearer token: the log's signature on the checkpoint is the authentication (as the spec says).
 * A thin adapter over src/witness: body bytes in, the spec's status codes and bodies out.
 */
import type { DkeApp, RouteContext } from '../../service/app.js';
import type { AuditEvent } from '../../service/contracts.js';
import { appendOrFail } from '../../service/audited-action.js';
import { DkeError } from '../../errors/index.js';
import { MAX_ADD_CHECKPOINT_BYTES, parseAddCheckpointRequest, type Witness } from '../../witness/witness.js';
import type { Checkpoint } from '../../transparency/index.js';

export const WITNESS_PREFIX = '/witness';
const AUDIT_ACTION = 'witness.add-checkpoint';

/** `<size> <root base64>`: what the audit record names as the object (docs/audit.md). */
const checkpointId = (checkpoint: Checkpoint): string =>
  `${checkpoint.size.toString()} ${checkpoint.rootHash.toString('base64')}`;

export function registerWitnessRoutes(app: DkeApp, ctx: RouteContext, witness: Witness): void {
  void app.register((scope, _options, done) => {
    // The spec names no request media type: take the body as bytes whatever the client labels it.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: MAX_ADD_CHECKPOINT_BYTES },
      (_r, body, done) => done(null, body),
    );
    scope.post(
      `${WITNESS_PREFIX}/add-checkpoint`,
      { bodyLimit: MAX_ADD_CHECKPOINT_BYTES },
      async (request, reply) => {
        const body = request.body;
        const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
        const audit = async (
          event: Omit<AuditEvent, 'action' | 'clientAddress' | 'requestId'>,
        ): Promise<void> => {
          await appendOrFail(ctx.audit, {
            action: AUDIT_ACTION,
            clientAddress: request.ip,
            requestId: request.id,
            ...event,
          });
        };
        const submitted = parseAddCheckpointRequest(bytes);
        const result = await witness.addCheckpoint(submitted);
        // A bad proof or a fork is signed by a log key we trust: evidence of misbehaviour, recorded. Other
        // refusals (unsigned, unknown log, stale size) are not, so strangers cannot flood the audit log.
        if (result.status === 422) {
          await audit({
            result: 'denied',
            reason: 'ERR_PROOF_INVALID',
            subject: result.checkpoint.origin,
            objectId: checkpointId(result.checkpoint),
          });
          throw new DkeError('ERR_PROOF_INVALID', { message: result.message });
        }
        if (result.status === 409) {
          if (result.conflict === 'fork') {
            await audit({
              result: 'denied',
              reason: 'ERR_WITNESS_FORK',
              subject: result.checkpoint.origin,
              objectId: checkpointId(result.checkpoint),
            });
          }
          return reply.code(409).type('text/x.tlog.size').send(`${result.knownSize.toString()}\n`);
        }
        // Only growth is recorded: re-submitting the same checkpoint cannot flood the audit log.
        if (result.checkpoint.size > result.previousSize) {
          await audit({
            result: 'ok',
            subject: result.checkpoint.origin,
            objectId: checkpointId(result.checkpoint),
          });
        }
        return reply.code(200).type('text/plain; charset=utf-8').send(result.cosignatures);
      },
    );
    done();
  });
}
