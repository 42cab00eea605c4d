/** JSON schemas of the admin API (docs/protocol.md "Admin API"). */

import { NATIVE_KEY_SPECS, type KeySpec } from '../crypto/holder-keys.js';

/** Every key type some protocol allows (RSA-2048 is for Microsoft DKE only; docs/keys.md). */
export const KEY_SPECS: readonly KeySpec[] = [...NATIVE_KEY_SPECS, 'RSA-2048'];
const PEM_MAX = 16 * 1024;

const stringList = { type: 'array', maxItems: 1000, items: { type: 'string', maxLength: 512 } } as const;

export const policySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { users: stringList, groups: stringList, roles: stringList, tenants: stringList },
} as const;

export const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export const revocationParams = {
  type: 'object',
  required: ['name', 'objectId'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64 },
    objectId: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;

export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64 },
    protocol: { enum: ['native', 'ms-dke'] },
    spec: { enum: KEY_SPECS },
    cacheSeconds: { type: 'integer', minimum: 0 },
    policy: policySchema,
    /** Present: import this PKCS#1/PKCS#8 PEM instead of generating a key. */
    privateKeyPem: { type: 'string', minLength: 1, maxLength: PEM_MAX },
    /** Where the private key lives (docs/hsm.md); default software. */
    backend: { enum: ['software', 'pkcs11'] },
  },
} as const;

export const rotateKeyBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    spec: { enum: KEY_SPECS },
    privateKeyPem: { type: 'string', minLength: 1, maxLength: PEM_MAX },
    backend: { enum: ['software', 'pkcs11'] },
  },
} as const;

export const destroyKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['confirm'],
  properties: { confirm: { type: 'string', maxLength: 64 } },
} as const;

export const cacheBody = {
  type: 'object',
  additionalProperties: false,
  required: ['cacheSeconds'],
  properties: { cacheSeconds: { type: 'integer', minimum: 0 } },
} as const;

/**
 * A whole number in a query string, which is text: decimal digits without sign or leading zero. The route
 * parses it and checks its range (no type coercion anywhere, see src/service/app.ts).
 */
export const decimalQueryParam = { type: 'string', pattern: '^[1-9][0-9]{0,5}$' } as const;

export const auditQuerystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    key: { type: 'string', maxLength: 64 },
    object: { type: 'string', maxLength: 128 },
    subject: { type: 'string', maxLength: 512 },
    identity: { type: 'string', maxLength: 512 },
    since: { type: 'string', maxLength: 64 },
    limit: decimalQueryParam,
  },
} as const;

const versionSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    keyId: { type: 'string' },
    spec: { type: 'string' },
    backend: { type: 'string' },
    publicJwk: { type: 'object', additionalProperties: { type: 'string' } },
    createdAt: { type: 'string' },
    destroyed: { type: 'boolean' },
  },
} as const;

/** Response whitelist: nothing but these fields of a key ever leaves the admin API. */
export const keyInfoSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    protocol: { type: 'string' },
    state: { type: 'string' },
    activeVersion: { type: 'integer' },
    cacheSeconds: { type: 'integer' },
    policy: {
      type: 'object',
      properties: { users: stringList, groups: stringList, roles: stringList, tenants: stringList },
    },
    versions: { type: 'array', items: versionSchema },
    createdAt: { type: 'string' },
  },
} as const;
