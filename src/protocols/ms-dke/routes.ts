/**
 * Microsoft Purview Double Key Encryption (docs/ms-dke.md, /work/shared/reference/ms-dke.md):
 *   GET  /{keyName}                  the active public key, in the exact shape Office expects (no auth)
 *   POST /{keyName}/{keyId}/decrypt  RSA-OAEP-256 decrypt for an authorized user, audited
 * Check order on POST: key and key id exist (400) → token (401 + challenge) → user name and policy
 * (400 / empty 403) → alg (400) → decrypt (400 when it does not).
 */
import type { KeyObject } from 'node:crypto';
import { rsaOaep256Decrypt } from '../../crypto/rsa-oaep.js';
import type { FastifyRequest } from 'fastify';
import { DkeError } from '../../errors/index.js';
import type { Principal } from '../../service/contracts.js';
import { protocolKey, publishedVersion } from '../../service/key-lookup.js';
import type { DkeApp, RouteContext } from '../../service/app.js';
import type { ProblemMapper } from '../../service/http-errors.js';
import { b64urlToStdBase64, cacheExpiry, exponentNumber, fromStdBase64 } from './encoding.js';

export const MS_DKE_ALG = 'RSA-OAEP-256';

interface KeyParams {
  readonly keyName: string;
}
interface DecryptParams extends KeyParams {
  readonly keyId: string;
  readonly operation: string;
}
interface DecryptBody {
  readonly alg?: string;
  readonly value?: string;
}

const keyNameSchema = { type: 'string', minLength: 1, maxLength: 128 } as const;
/** Clients may add `?protocol-version=...` or anything else: accepted and ignored. */
const anyQuery = { type: 'object' } as const;

/** What the protocol's clients expect instead of the native statuses. */
function msDkeProblem(challenge: RouteContext['authenticator']['challenge']): ProblemMapper {
  return (answer) => {
    switch (answer.code) {
      case 'ERR_KEY_NOT_FOUND':
      case 'ERR_KEY_DESTROYED':
        return { ...answer, status: 400 };
      case 'ERR_FORBIDDEN':
      case 'ERR_KEY_DISABLED':
      case 'ERR_OBJECT_REVOKED':
        return { ...answer, status: 403, emptyBody: true };
    }
    if (answer.status === 401 && challenge !== undefined) {
      // The sample service also sends the two challenge parameters as plain headers; some clients read them.
      return {
        ...answer,
        headers: { ...answer.headers, resource: challenge.audience, authorization: challenge.authority },
      };
    }
    return answer;
  };
}

/** Scheme://host[:port][/prefix] as the client sees it: config first, else the request (trusted proxies). */
function baseUrl(ctx: RouteContext, request: FastifyRequest): string {
  return ctx.publicBaseUrl ?? `${request.protocol}://${request.host}`;
}

function requireUserName(principal: Principal): void {
  if (principal.userName === undefined || principal.userName === '') {
    throw new DkeError('ERR_BAD_REQUEST', { message: 'token has no upn or email claim' });
  }
}

async function decrypt(key: KeyObject, body: DecryptBody): Promise<string> {
  if (body.alg !== MS_DKE_ALG)
    throw new DkeError('ERR_BAD_REQUEST', { message: `alg must be ${MS_DKE_ALG}` });
  const ciphertext = fromStdBase64(body.value ?? '');
  if (ciphertext === undefined || ciphertext.length === 0) {
    throw new DkeError('ERR_BAD_REQUEST', { message: 'value must be standard base64' });
  }
  try {
    // OAEP with SHA-256 and MGF1-SHA-256, no label; on the thread pool.
    return (await rsaOaep256Decrypt(key, ciphertext)).toString('base64');
  } catch (cause) {
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'RSA-OAEP-256 decryption failed', cause });
  }
}

export function registerMsDkeRoutes(app: DkeApp, ctx: RouteContext): void {
  const config = { problem: msDkeProblem(ctx.authenticator.challenge) };

  app.get<{ Params: KeyParams }>(
    '/:keyName',
    {
      config,
      schema: {
        params: { type: 'object', required: ['keyName'], properties: { keyName: keyNameSchema } },
        querystring: anyQuery,
      },
    },
    async (request) => {
      const key = await protocolKey(ctx.keys, 'ms-dke', request.params.keyName);
      const active = publishedVersion(key);
      const { kty, n, e } = active.publicJwk;
      if (kty !== 'RSA' || n === undefined || e === undefined) {
        throw new DkeError('ERR_INTERNAL', { detail: `ms-dke key ${key.name} is not RSA` });
      }
      return {
        key: {
          kty: 'RSA',
          n: b64urlToStdBase64(n),
          e: exponentNumber(e),
          alg: 'RS256',
          kid: `${baseUrl(ctx, request)}/${key.name}/${active.keyId}`,
        },
        ...(key.cacheSeconds === undefined
          ? {}
          : { cache: { exp: cacheExpiry(new Date(), key.cacheSeconds) } }),
      };
    },
  );

  app.post<{ Params: DecryptParams; Body: DecryptBody }>(
    '/:keyName/:keyId/:operation',
    {
      config,
      schema: {
        params: {
          type: 'object',
          required: ['keyName', 'keyId', 'operation'],
          properties: {
            keyName: keyNameSchema,
            keyId: { type: 'string', maxLength: 128 },
            operation: { type: 'string' },
          },
        },
        querystring: anyQuery,
        // Presence and values are checked after authentication, in the protocol's order.
        body: {
          type: 'object',
          properties: { alg: { type: 'string', maxLength: 64 }, value: { type: 'string', maxLength: 4096 } },
        },
      },
    },
    async (request) => {
      const { keyName, keyId, operation } = request.params;
      // Clients send `decrypt` in lower case; the reference service matches it case-insensitively.
      if (operation.toLowerCase() !== 'decrypt') throw new DkeError('ERR_NOT_FOUND');
      const body = request.body ?? {};
      const value = await ctx.unwrap.run({
        protocol: 'ms-dke',
        action: 'ms-dke.decrypt',
        keyName,
        keyId,
        authorization: request.headers.authorization,
        clientAddress: request.ip,
        requestId: request.id,
        admit: requireUserName,
        operate: async (privateKey) => ({ value: await decrypt(privateKey, body) }),
      });
      return { value };
    },
  );
}
