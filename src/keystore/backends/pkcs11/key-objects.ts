/**
 * Key objects in the token: templates for generation and import, finding objects by CKA_ID, reading the
 * public key. Private keys are always CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, and
 * usable only for the one operation their type serves (RSA: CKA_DECRYPT; EC: CKA_DERIVE).
 */
import type { KeyObject } from 'node:crypto';
import type { KeySpec } from '../../../crypto/holder-keys.js';
import { DkeError } from '../../../errors/index.js';
import { ck, type Handle, type Mechanism, type Pkcs11, type Template } from './binding.js';
import {
  curveOfParams,
  derPoint,
  EC_PARAMS,
  ecPublicKey,
  pointOf,
  rawPoint,
  rsaPublicKey,
  type Curve,
} from './encoding.js';

export function curveOfSpec(spec: KeySpec): Curve | undefined {
  return spec === 'P-256' || spec === 'P-384' || spec === 'P-521' ? spec : undefined;
}

const PRIVATE_COMMON: Template = [
  { type: ck.CKA_TOKEN, value: true },
  { type: ck.CKA_PRIVATE, value: true },
  { type: ck.CKA_SENSITIVE, value: true },
  { type: ck.CKA_EXTRACTABLE, value: false },
];

/** CKA_ID (our key id) and CKA_LABEL, on both objects of a pair. */
function namingTemplate(id: Buffer, label: string): Template {
  return [
    { type: ck.CKA_ID, value: id },
    { type: ck.CKA_LABEL, value: label },
  ];
}

/** Mechanism and templates to generate a key pair of `spec` in the token. */
export function generationTemplates(
  spec: KeySpec,
  id: Buffer,
  label: string,
): { mechanism: Mechanism; publicTemplate: Template; privateTemplate: Template } {
  const naming = namingTemplate(id, label);
  const curve = curveOfSpec(spec);
  if (curve !== undefined) {
    return {
      mechanism: { mechanism: ck.CKM_EC_KEY_PAIR_GEN },
      publicTemplate: [
        { type: ck.CKA_TOKEN, value: true },
        { type: ck.CKA_PRIVATE, value: false },
        { type: ck.CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[curve]) },
        ...naming,
      ],
      privateTemplate: [...PRIVATE_COMMON, { type: ck.CKA_DERIVE, value: true }, ...naming],
    };
  }
  return {
    mechanism: { mechanism: ck.CKM_RSA_PKCS_KEY_PAIR_GEN },
    publicTemplate: [
      { type: ck.CKA_TOKEN, value: true },
      { type: ck.CKA_PRIVATE, value: false },
      { type: ck.CKA_ENCRYPT, value: true },
      { type: ck.CKA_MODULUS_BITS, value: Number(spec.slice(4)) },
      { type: ck.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
      ...naming,
    ],
    privateTemplate: [...PRIVATE_COMMON, { type: ck.CKA_DECRYPT, value: true }, ...naming],
  };
}

const b64 = (value: string | undefined): Buffer => Buffer.from(value ?? '', 'base64url');

/**
 * Templates that create an existing private key (and its public key) as token objects. The material
 * passes through this process once, as with any software import; afterwards it is CKA_SENSITIVE and
 * not extractable like a generated key (but CKA_ALWAYS_SENSITIVE/CKA_NEVER_EXTRACTABLE stay false).
 */
export function importTemplates(
  key: KeyObject,
  spec: KeySpec,
  id: Buffer,
  label: string,
): { privateTemplate: Template; publicTemplate: Template } {
  const jwk = key.export({ format: 'jwk' });
  const naming = namingTemplate(id, label);
  const curve = curveOfSpec(spec);
  if (curve !== undefined) {
    return {
      privateTemplate: [
        { type: ck.CKA_CLASS, value: ck.CKO_PRIVATE_KEY },
        { type: ck.CKA_KEY_TYPE, value: ck.CKK_EC },
        ...PRIVATE_COMMON,
        { type: ck.CKA_DERIVE, value: true },
        { type: ck.CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[curve]) },
        { type: ck.CKA_VALUE, value: b64(jwk.d) },
        ...naming,
      ],
      publicTemplate: [
        { type: ck.CKA_CLASS, value: ck.CKO_PUBLIC_KEY },
        { type: ck.CKA_KEY_TYPE, value: ck.CKK_EC },
        { type: ck.CKA_TOKEN, value: true },
        { type: ck.CKA_EC_PARAMS, value: Buffer.from(EC_PARAMS[curve]) },
        { type: ck.CKA_EC_POINT, value: derPoint(pointOf(key)) },
        ...naming,
      ],
    };
  }
  return {
    privateTemplate: [
      { type: ck.CKA_CLASS, value: ck.CKO_PRIVATE_KEY },
      { type: ck.CKA_KEY_TYPE, value: ck.CKK_RSA },
      ...PRIVATE_COMMON,
      { type: ck.CKA_DECRYPT, value: true },
      { type: ck.CKA_MODULUS, value: b64(jwk.n) },
      { type: ck.CKA_PUBLIC_EXPONENT, value: b64(jwk.e) },
      { type: ck.CKA_PRIVATE_EXPONENT, value: b64(jwk.d) },
      { type: ck.CKA_PRIME_1, value: b64(jwk.p) },
      { type: ck.CKA_PRIME_2, value: b64(jwk.q) },
      { type: ck.CKA_EXPONENT_1, value: b64(jwk.dp) },
      { type: ck.CKA_EXPONENT_2, value: b64(jwk.dq) },
      { type: ck.CKA_COEFFICIENT, value: b64(jwk.qi) },
      ...naming,
    ],
    publicTemplate: [
      { type: ck.CKA_CLASS, value: ck.CKO_PUBLIC_KEY },
      { type: ck.CKA_KEY_TYPE, value: ck.CKK_RSA },
      { type: ck.CKA_TOKEN, value: true },
      { type: ck.CKA_ENCRYPT, value: true },
      { type: ck.CKA_MODULUS, value: b64(jwk.n) },
      { type: ck.CKA_PUBLIC_EXPONENT, value: b64(jwk.e) },
      ...naming,
    ],
  };
}

const SECRET_ATTRIBUTES = new Set<number>([
  ck.CKA_VALUE,
  ck.CKA_PRIVATE_EXPONENT,
  ck.CKA_PRIME_1,
  ck.CKA_PRIME_2,
  ck.CKA_EXPONENT_1,
  ck.CKA_EXPONENT_2,
  ck.CKA_COEFFICIENT,
]);

/** Overwrites the private-key material of an import template once the token has it. */
export function wipeSecrets(template: Template): void {
  for (const attribute of template) {
    if (SECRET_ATTRIBUTES.has(attribute.type) && Buffer.isBuffer(attribute.value)) attribute.value.fill(0);
  }
}

/** Every object with this CKA_ID (and class, when given). */
export function findObjects(p11: Pkcs11, session: Handle, id: Buffer, objectClass?: number): Handle[] {
  const template: Template = [{ type: ck.CKA_ID, value: id }];
  if (objectClass !== undefined) template.push({ type: ck.CKA_CLASS, value: objectClass });
  p11.C_FindObjectsInit(session, template);
  try {
    const found: Handle[] = [];
    for (;;) {
      const batch = p11.C_FindObjects(session, 16);
      found.push(...batch);
      if (batch.length < 16) return found;
    }
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

/** The one object of `objectClass` with this CKA_ID; ERR_INTERNAL when the token has none. */
export function findObject(p11: Pkcs11, session: Handle, id: Buffer, objectClass: number): Handle {
  const found = findObjects(p11, session, id, objectClass);
  // The same key imported twice has two objects with the same CKA_ID (its key id): either serves.
  const first = found[0];
  if (first === undefined) {
    const what = objectClass === ck.CKO_PRIVATE_KEY ? 'private' : 'public';
    throw new DkeError('ERR_INTERNAL', {
      detail: `the token has no ${what} key with CKA_ID ${id.toString('hex')} (removed, or another token)`,
    });
  }
  return first;
}

function attribute(p11: Pkcs11, session: Handle, object: Handle, type: number): Buffer {
  const value = p11.C_GetAttributeValue(session, object, [{ type }])[0]?.value;
  if (!Buffer.isBuffer(value)) throw new DkeError('ERR_INTERNAL', { detail: `attribute ${type} missing` });
  return value;
}

/** The public key of a public (or, for RSA, private) key object. */
export function readPublicKey(p11: Pkcs11, session: Handle, object: Handle, spec: KeySpec): KeyObject {
  const curve = curveOfSpec(spec);
  if (curve !== undefined) {
    const params = attribute(p11, session, object, ck.CKA_EC_PARAMS);
    if (curveOfParams(params) !== curve) {
      throw new DkeError('ERR_INTERNAL', { detail: `the token's key is not on ${curve}` });
    }
    return ecPublicKey(curve, rawPoint(attribute(p11, session, object, ck.CKA_EC_POINT), curve));
  }
  return rsaPublicKey(
    attribute(p11, session, object, ck.CKA_MODULUS),
    attribute(p11, session, object, ck.CKA_PUBLIC_EXPONENT),
  );
}

export interface PrivateKeyFlags {
  readonly sensitive: boolean;
  readonly extractable: boolean;
  /** True only for keys generated in the token (never outside it in the clear). */
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
  readonly label: string;
}

export function readPrivateKeyFlags(p11: Pkcs11, session: Handle, object: Handle): PrivateKeyFlags {
  const flag = (type: number): boolean => attribute(p11, session, object, type)[0] === 1;
  return {
    sensitive: flag(ck.CKA_SENSITIVE),
    extractable: flag(ck.CKA_EXTRACTABLE),
    alwaysSensitive: flag(ck.CKA_ALWAYS_SENSITIVE),
    neverExtractable: flag(ck.CKA_NEVER_EXTRACTABLE),
    label: attribute(p11, session, object, ck.CKA_LABEL).toString('utf8'),
  };
}
