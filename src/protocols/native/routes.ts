/**
 * The native OpenDKE key-service protocol (docs/protocol.md):
 *   GET  /keys/{name}         public key of the active version (no auth)
 *   POST /keys/{name}/unwrap  unwrap one holder share (bearer token), audited
 */
import { toB64url } from '../../crypto/encoding.js';
import { publicKeyFromJwk, wrapAlgFor } from '../../crypto/holder-keys.js';
import { readShareHeader, unwrapShare, MAX_JWE_LENGTH } from '../../format/share-jwe.js';
import { protocolKey, publishedVersion } from '../../service/key-lookup.js';
import type { FastifyRequest } from 'fastify';
import type { DkeApp, RouteContext } from '../../service/app.js';
import type { AuditRecord } from '../../service/contracts.js';
import { errorResponses, keyNameParam } from './schemas.js';

interface NameParams {
  readonly name: string;
}

export function registerNativeRoutes(app: DkeApp, ctx: RouteContext): void {
  app.get<{ Params: NameParams }>(
    '/keys/:name',
    {
      schema: {
        params: keyNameParam,
        response: {
          200: {
            type: 'object',
            required: ['name', 'keyId', 'version', 'alg', 'jwk'],
            properties: {
              name: { type: 'string' },
              keyId: { type: 'string' },
              version: { type: 'integer' },
              alg: { type: 'string' },
              jwk: { type: 'object', additionalProperties: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const key = await protocolKey(ctx.keys, 'native', request.params.name);
      const version = publishedVersion(key);
      return {
        name: key.name,
        keyId: version.keyId,
        version: version.version,
        alg: wrapAlgFor(publicKeyFromJwk(version.publicJwk)),
        jwk: version.publicJwk,
      };
    },
  );

  app.post<{ Params: NameParams; Body: { stanza: string } }>(
    '/keys/:name/unwrap',
    {
      schema: {
        params: keyNameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['stanza'],
          properties: { stanza: { type: 'string', minLength: 1, maxLength: MAX_JWE_LENGTH } },
        },
        response: {
          200: {
            type: 'object',
            required: ['share', 'keyId', 'version', 'objectId'],
            properties: {
              share: { type: 'string' },
              keyId: { type: 'string' },
              version: { type: 'integer' },
              objectId: { type: 'string' },
              // docs/audit.md "Receipts": a C2SP tlog-proof of this answer's audit record.
              receipt: { type: 'string' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { stanza } = request.body;
      // Only a routing hint until the JWE decrypts: the AES-GCM tag authenticates this header.
      const claimed = readShareHeader(stanza);
      const { value, record } = await ctx.unwrap.runRecorded({
        protocol: 'native',
        action: 'native.unwrap',
        keyName: request.params.name,
        keyId: claimed.kid,
        objectId: toB64url(claimed.objectId),
        authorization: request.headers.authorization,
        clientAddress: request.ip,
        requestId: request.id,
        operate: async (privateKey, version) => {
          const { share, header } = await unwrapShare(stanza, privateKey, { keyId: version.keyId });
          const objectId = toB64url(header.objectId);
          return {
            value: { share: toB64url(share), keyId: version.keyId, version: version.version, objectId },
            objectId,
          };
        },
      });
      const receipt = ctx.transparency?.receipts === true ? await receiptOf(ctx, request, record) : undefined;
      return receipt === undefined ? value : { ...value, receipt };
    },
  );
}

/**
 * The key was released and its record is durable: a receipt that cannot be made now (e.g. the store
 * failing a read) is left out and logged, never failing the answer; GET /admin/audit/receipt gives it later.
 */
async function receiptOf(
  ctx: RouteContext,
  request: FastifyRequest,
  record: AuditRecord,
): Promise<string | undefined> {
  try {
    return await ctx.transparency?.receiptFor(record);
  } catch (error) {
    request.log.error({ err: error, seq: record.seq }, 'could not make a receipt');
    return undefined;
  }
}
