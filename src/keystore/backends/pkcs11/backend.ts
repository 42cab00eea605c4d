/**
 * The PKCS#11 key backend (docs/hsm.md): key pairs generated in (or imported into) the token, found by
 * CKA_ID = the key id (the RFC 7638 thumbprint's 32 bytes), used through operators that run RSA-OAEP-256
 * decryption (CKM_RSA_PKCS_OAEP, SHA-256, MGF1-SHA-256) and ECDH (CKM_ECDH1_DERIVE) in the token with
 * the binding's asynchronous calls, so the event loop stays free while the token works.
 *
 * ECDH: the JWE Concat KDF (RFC 7518 §4.6) is not a PKCS#11 KDF (CKD_SHA256_KDF is the ANSI X9.63 KDF,
 * another input order), so the token derives the raw shared secret Z (CKD_NULL) into a session object
 * (generic secret, not sensitive, extractable, never on the token) that is read once and destroyed; the
 * KDF and AES key unwrap then run in Node. Z is per message (the sender's ephemeral key); the private key
 * never leaves the token.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { keyIdOf, type KeySpec } from '../../../crypto/holder-keys.js';
import { DkeError, isDkeError } from '../../../errors/index.js';
import { specOf } from '../../key-specs.js';
import { assertPeerOnCurve, operationFailed, type PrivateKeyOperator } from '../operator.js';
import {
  ck,
  type EcdhParams,
  type Handle,
  type Mechanism,
  type Pkcs11,
  type RsaOaepParams,
} from './binding.js';
import type { Pkcs11Config } from './config.js';
import { FIELD_BYTES, pointOf, type Curve } from './encoding.js';
import { describeFailure, failureKind, internal } from './errors.js';
import {
  curveOfSpec,
  findObject,
  findObjects,
  generationTemplates,
  importTemplates,
  readPrivateKeyFlags,
  readPublicKey,
  wipeSecrets,
  type PrivateKeyFlags,
} from './key-objects.js';
import {
  acquireToken,
  type Pkcs11Token,
  type TokenHealth,
  type TokenLease,
  type TokenOptions,
} from './token.js';

/** A key pair in the token, as the store records it. */
export interface TokenKey {
  /** The token reference the store keeps: hex of the objects' CKA_ID. */
  readonly ref: string;
  readonly keyId: string;
  readonly spec: KeySpec;
  readonly publicKey: KeyObject;
}

const OAEP_SHA256_PARAMS: RsaOaepParams = {
  type: ck.CK_PARAMS_RSA_OAEP,
  hashAlg: ck.CKM_SHA256,
  mgf: ck.CKG_MGF1_SHA256,
  source: 1,
};
const OAEP_SHA256: Mechanism = {
  mechanism: ck.CKM_RSA_PKCS_OAEP,
  // source 1 = CKZ_DATA_SPECIFIED with no data: the empty label (pkcs11js exports no CKZ_ constant).
  parameter: OAEP_SHA256_PARAMS,
};

const REF_PATTERN = /^(?:[0-9a-f]{2}){1,64}$/;

function idOfRef(ref: string): Buffer {
  if (!REF_PATTERN.test(ref)) throw new DkeError('ERR_INTERNAL', { detail: `bad token reference ${ref}` });
  return Buffer.from(ref, 'hex');
}

/** An operation's failure as the operator contract says: unavailable, bad input, or internal. */
function operationError(what: string, error: unknown): DkeError {
  if (isDkeError(error)) return error;
  if (failureKind(error) === 'input') return operationFailed(`${what}: ${describeFailure(error)}`, error);
  return internal(what, error);
}

export class Pkcs11KeyBackend {
  private readonly token: Pkcs11Token;
  private readonly operators = new Map<string, Promise<Pkcs11KeyOperator>>();

  private constructor(private readonly lease: TokenLease) {
    this.token = lease.token;
  }

  /** Connects to the token (see TokenOptions.waitForToken). Throws ERR_HSM_UNAVAILABLE / ERR_CONFIG_INVALID. */
  static open(config: Pkcs11Config, options: TokenOptions = {}): Pkcs11KeyBackend {
    return new Pkcs11KeyBackend(acquireToken(config, options));
  }

  get tokenLabel(): string {
    return this.token.tokenLabel;
  }

  /** A new key pair generated in the token, labelled `label` (e.g. `opendke/<name>/v<version>`). */
  async generateKey(spec: KeySpec, label: string): Promise<TokenKey> {
    return this.run('key generation', async ({ p11, session }) => {
      // The key id is known only once the token made the key: generate under a random CKA_ID, then
      // set CKA_ID to the key id. On any failure in between, the new objects are destroyed again.
      const { mechanism, publicTemplate, privateTemplate } = generationTemplates(
        spec,
        randomBytes(16),
        label,
      );
      const pair = await p11.C_GenerateKeyPairAsync(session, mechanism, publicTemplate, privateTemplate);
      try {
        const publicKey = readPublicKey(p11, session, pair.publicKey, spec);
        const keyId = await keyIdOf(publicKey);
        const id = Buffer.from(keyId, 'base64url');
        for (const object of [pair.privateKey, pair.publicKey]) {
          p11.C_SetAttributeValue(session, object, [{ type: ck.CKA_ID, value: id }]);
        }
        return { ref: id.toString('hex'), keyId, spec, publicKey };
      } catch (error) {
        destroyQuietly(p11, session, [pair.privateKey, pair.publicKey]);
        throw error;
      }
    });
  }

  /**
   * An existing private key created as token objects (C_CreateObject, CKA_SENSITIVE, not extractable).
   * For keys that exist outside a token already (the MS DKE test vector, a migration); see docs/hsm.md.
   */
  async importKey(privateKey: KeyObject, label: string): Promise<TokenKey> {
    const spec = specOf(privateKey);
    const keyId = await keyIdOf(privateKey);
    const id = Buffer.from(keyId, 'base64url');
    const { privateTemplate, publicTemplate } = importTemplates(privateKey, spec, id, label);
    return this.run('key import', ({ p11, session }) => {
      const created: Handle[] = [];
      try {
        created.push(p11.C_CreateObject(session, privateTemplate));
        created.push(p11.C_CreateObject(session, publicTemplate));
        const publicKey = readPublicKey(p11, session, created[1] as Handle, spec);
        return Promise.resolve({ ref: id.toString('hex'), keyId, spec, publicKey });
      } catch (error) {
        destroyQuietly(p11, session, created);
        throw error;
      } finally {
        wipeSecrets(privateTemplate);
      }
    });
  }

  /**
   * The operator for a key version. Checks once (per connection) that the token's key is the one the
   * store names: its public key's thumbprint must be `keyId`, and for RSA the private object's modulus
   * must match, so a swapped token or object fails loudly instead of decrypting with another key.
   */
  async operator(ref: string, keyId: string, spec: KeySpec): Promise<PrivateKeyOperator> {
    const cacheKey = `${ref}/${keyId}/${spec}`;
    let cached = this.operators.get(cacheKey);
    if (cached === undefined) {
      cached = this.makeOperator(ref, keyId, spec);
      this.operators.set(cacheKey, cached);
      cached.catch(() => this.operators.delete(cacheKey));
    }
    return cached;
  }

  /** The public key of a token key, read from the token. */
  async publicKey(ref: string, spec: KeySpec): Promise<KeyObject> {
    const id = idOfRef(ref);
    return this.run('public key read', ({ p11, session }) =>
      Promise.resolve(readPublicKey(p11, session, findObject(p11, session, id, ck.CKO_PUBLIC_KEY), spec)),
    );
  }

  /** CKA_SENSITIVE, CKA_EXTRACTABLE and friends of the private key object (for `dke key show` and tests). */
  async privateKeyFlags(ref: string): Promise<PrivateKeyFlags> {
    const id = idOfRef(ref);
    return this.run('key attributes read', ({ p11, session }) =>
      Promise.resolve(readPrivateKeyFlags(p11, session, findObject(p11, session, id, ck.CKO_PRIVATE_KEY))),
    );
  }

  /** C_DestroyObject on every object with the key's CKA_ID; returns how many there were. */
  async destroyKey(ref: string): Promise<number> {
    const id = idOfRef(ref);
    for (const key of [...this.operators.keys()]) if (key.startsWith(`${ref}/`)) this.operators.delete(key);
    return this.run('key destruction', ({ p11, session }) => {
      const objects = findObjects(p11, session, id);
      for (const object of objects) p11.C_DestroyObject(session, object);
      return Promise.resolve(objects.length);
    });
  }

  health(): TokenHealth {
    return this.token.health();
  }

  /** Releases this backend's hold on the token (finalized when no other holds it). */
  close(): Promise<void> {
    this.operators.clear();
    return this.lease.release();
  }

  private async makeOperator(ref: string, keyId: string, spec: KeySpec): Promise<Pkcs11KeyOperator> {
    const publicKey = await this.publicKey(ref, spec);
    if ((await keyIdOf(publicKey)) !== keyId) {
      throw new DkeError('ERR_INTERNAL', {
        detail: `the token's key ${ref} is not key id ${keyId} (another token, or a replaced object)`,
      });
    }
    return new Pkcs11KeyOperator(this.token, idOfRef(ref), spec, publicKey);
  }

  private async run<T>(what: string, work: Parameters<Pkcs11Token['withSession']>[1]): Promise<T> {
    try {
      return (await this.token.withSession(what, work)) as T;
    } catch (error) {
      throw operationError(what, error);
    }
  }
}

export class Pkcs11KeyOperator implements PrivateKeyOperator {
  readonly backend = 'pkcs11';
  private readonly curve: Curve | undefined;
  private readonly modulusBytes: number;
  private readonly modulus: Buffer;
  /** The private key's handle, valid within one connection generation of the token. */
  private handle: { readonly generation: number; readonly handle: Handle } | undefined;

  constructor(
    private readonly token: Pkcs11Token,
    private readonly id: Buffer,
    readonly spec: KeySpec,
    readonly publicKey: KeyObject,
  ) {
    this.curve = curveOfSpec(spec);
    this.modulusBytes = this.curve === undefined ? Number(spec.slice(4)) / 8 : 0;
    this.modulus = Buffer.from(
      this.curve === undefined ? (publicKey.export({ format: 'jwk' }).n ?? '') : '',
      'base64url',
    );
  }

  async decryptRsaOaepSha256(ciphertext: Uint8Array): Promise<Buffer> {
    if (this.curve !== undefined) throw operationFailed(`${this.spec} keys do not decrypt RSA-OAEP`);
    if (ciphertext.length !== this.modulusBytes) {
      throw operationFailed(`RSA-OAEP ciphertext is ${ciphertext.length} bytes, not ${this.modulusBytes}`);
    }
    // Not below the modulus: no RSA ciphertext at all. Tokens differ in how they say so (NSS:
    // CKR_ARGUMENTS_BAD), so it is refused here, the same way for every token.
    if (Buffer.compare(Buffer.from(ciphertext), this.modulus) >= 0) {
      throw operationFailed('RSA-OAEP ciphertext is not below the modulus');
    }
    const what = 'RSA-OAEP-256 decryption';
    try {
      return await this.token.withSession(what, async ({ p11, session, generation }) => {
        p11.C_DecryptInit(session, OAEP_SHA256, this.privateHandle(p11, session, generation));
        return Buffer.from(
          await p11.C_DecryptAsync(session, Buffer.from(ciphertext), Buffer.alloc(this.modulusBytes)),
        );
      });
    } catch (error) {
      this.handle = undefined; // an invalid or destroyed handle is looked up again next time
      throw operationError(what, error);
    }
  }

  async deriveEcdh(peerPublic: KeyObject): Promise<Buffer> {
    const curve = this.curve;
    if (curve === undefined) throw operationFailed(`${this.spec} keys do not derive ECDH secrets`);
    assertPeerOnCurve(peerPublic, curve);
    const size = FIELD_BYTES[curve];
    const parameter: EcdhParams = {
      type: ck.CK_PARAMS_EC_DH,
      kdf: ck.CKD_NULL,
      publicData: pointOf(peerPublic),
    };
    const mechanism: Mechanism = { mechanism: ck.CKM_ECDH1_DERIVE, parameter };
    const what = 'ECDH derivation';
    try {
      return await this.token.withSession(what, async ({ p11, session, generation }) => {
        const secret = await p11.C_DeriveKeyAsync(
          session,
          mechanism,
          this.privateHandle(p11, session, generation),
          [
            { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
            { type: ck.CKA_KEY_TYPE, value: ck.CKK_GENERIC_SECRET },
            { type: ck.CKA_TOKEN, value: false },
            { type: ck.CKA_SENSITIVE, value: false },
            { type: ck.CKA_EXTRACTABLE, value: true },
            { type: ck.CKA_VALUE_LEN, value: size },
          ],
        );
        try {
          const value = p11.C_GetAttributeValue(session, secret, [{ type: ck.CKA_VALUE }])[0]?.value;
          if (!Buffer.isBuffer(value) || value.length !== size) {
            throw new DkeError('ERR_INTERNAL', { detail: `the token derived no ${size}-byte secret` });
          }
          return Buffer.from(value);
        } finally {
          destroyQuietly(p11, session, [secret]);
        }
      });
    } catch (error) {
      this.handle = undefined;
      throw operationError(what, error);
    }
  }

  private privateHandle(p11: Pkcs11, session: Handle, generation: number): Handle {
    if (this.handle?.generation === generation) return this.handle.handle;
    const handle = findObject(p11, session, this.id, ck.CKO_PRIVATE_KEY);
    if (this.curve === undefined) {
      const modulus = p11.C_GetAttributeValue(session, handle, [{ type: ck.CKA_MODULUS }])[0]?.value;
      const expected = Buffer.from(this.publicKey.export({ format: 'jwk' }).n ?? '', 'base64url');
      if (!Buffer.isBuffer(modulus) || !stripZeros(modulus).equals(expected)) {
        throw new DkeError('ERR_INTERNAL', {
          detail: `the token's private key ${this.id.toString('hex')} does not match its public key`,
        });
      }
    }
    this.handle = { generation, handle };
    return handle;
  }
}

function stripZeros(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return value.subarray(start);
}

function destroyQuietly(p11: Pkcs11, session: Handle, objects: readonly Handle[]): void {
  for (const object of objects) {
    try {
      p11.C_DestroyObject(session, object);
    } catch {
      // Session objects go with the session anyway; a token object left behind has a random CKA_ID.
    }
  }
}
