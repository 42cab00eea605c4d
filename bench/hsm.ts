/**
 * Private-key operations per second through the key-backend seam (docs/hsm.md "Performance"): software keys
 * (node:crypto) against keys in NSS's softoken and in SoftHSM2, in the same run, the same way the service
 * calls them (an operator, many operations in flight). `node dist/bench/hsm.js [seconds] [concurrency]`.
 * Needs the tokens of scripts/ensure-tokens.sh; a missing token's rows say so. The bench's hsm phase
 * (bench/hsm-service.ts) reports the same rates through `operatorRates`.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { generateHolderKey, type KeySpec } from '../src/crypto/holder-keys.js';
import {
  Pkcs11KeyBackend,
  SoftwareKeyOperator,
  type PrivateKeyOperator,
} from '../src/keystore/backends/index.js';
import { HANDLES_PER_KEY } from '../src/keystore/key-manager.js';
import { wrapShare } from '../src/format/share-jwe.js';
import { unwrapShareWith } from '../src/format/share-jwe-operator.js';
import { createToken, missingToken, type TokenKind } from '../test/support/tokens.js';

export interface OperatorRun {
  readonly seconds: number;
  /** Operations in flight at once. */
  readonly concurrency: number;
  readonly specs: readonly KeySpec[];
  readonly tokens: readonly TokenKind[];
}

export interface Row {
  readonly backend: string;
  readonly operation: string;
  readonly perSecond: number | string;
}

function oaepInput(publicKey: KeyObject): () => Buffer {
  const ciphertexts = Array.from({ length: 64 }, () =>
    crypto.publicEncrypt(
      { key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      crypto.randomBytes(32),
    ),
  );
  let i = 0;
  return () => ciphertexts[i++ % ciphertexts.length] as Buffer;
}

function ecdhInput(publicKey: KeyObject): () => KeyObject {
  const curve = publicKey.asymmetricKeyDetails?.namedCurve ?? '';
  const peers = Array.from({ length: 64 }, () => {
    const ecdh = crypto.createECDH(curve);
    const point = ecdh.generateKeys();
    return crypto.createPublicKey({
      key: Buffer.concat([Buffer.from(spkiPrefix(curve), 'hex'), point]),
      format: 'der',
      type: 'spki',
    });
  });
  let i = 0;
  return () => peers[i++ % peers.length] as KeyObject;
}

/** DER of SubjectPublicKeyInfo up to the uncompressed point, per curve. */
function spkiPrefix(curve: string): string {
  if (curve === 'prime256v1') return '3059301306072a8648ce3d020106082a8648ce3d030107034200';
  if (curve === 'secp384r1') return '3076301006072a8648ce3d020106052b81040022036200';
  throw new Error(`no SPKI prefix for ${curve}`);
}

async function rate(
  { seconds, concurrency }: OperatorRun,
  operation: () => Promise<unknown>,
): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await operation();
        done++;
      }
    }),
  );
  return Math.round(done / seconds);
}

/** A whole native unwrap (share JWE through the operator), as POST /keys/{name}/unwrap does it. */
async function measureUnwrap(run: OperatorRun, backend: string, operator: PrivateKeyOperator): Promise<Row> {
  const jwes = await Promise.all(
    Array.from({ length: 64 }, () =>
      wrapShare(crypto.randomBytes(32), operator.publicKey, {
        objectId: crypto.randomBytes(16),
        keyId: 'bench',
      }),
    ),
  );
  let i = 0;
  return {
    backend,
    operation: `${operator.spec} native share unwrap (JWE)`,
    perSecond: await rate(run, () => unwrapShareWith(jwes[i++ % jwes.length] as string, operator)),
  };
}

async function measure(run: OperatorRun, backend: string, operator: PrivateKeyOperator): Promise<Row> {
  if (operator.spec.startsWith('RSA-')) {
    const next = oaepInput(operator.publicKey);
    return {
      backend,
      operation: `${operator.spec} OAEP-SHA256 decrypt`,
      perSecond: await rate(run, () => operator.decryptRsaOaepSha256(next())),
    };
  }
  const next = ecdhInput(operator.publicKey);
  return {
    backend,
    operation: `${operator.spec} ECDH derive`,
    perSecond: await rate(run, () => operator.deriveEcdh(next())),
  };
}

const SPECS: readonly KeySpec[] = ['RSA-2048', 'RSA-3072', 'P-256', 'P-384'];

/** Rates of `run.specs` with software keys, then with keys in each of `run.tokens`. */
export async function operatorRates(run: OperatorRun): Promise<Row[]> {
  const rows: Row[] = [];
  for (const spec of run.specs) {
    const key = generateHolderKey(spec);
    const der = key.export({ format: 'der', type: 'pkcs8' });
    const handles = Array.from({ length: HANDLES_PER_KEY }, () =>
      crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }),
    );
    const operator = new SoftwareKeyOperator(spec, handles);
    rows.push(await measure(run, 'software (node:crypto)', operator));
    if (spec !== 'RSA-2048') rows.push(await measureUnwrap(run, 'software (node:crypto)', operator));
  }
  for (const kind of run.tokens) {
    const name = kind === 'nss' ? 'pkcs11: NSS softoken' : 'pkcs11: SoftHSM2';
    const missing = missingToken(kind);
    if (missing !== undefined) {
      rows.push({ backend: name, operation: 'all', perSecond: `skipped: ${missing}` });
      continue;
    }
    const token = createToken(kind);
    const backend = Pkcs11KeyBackend.open(token.config);
    try {
      for (const spec of run.specs) {
        if (kind === 'softhsm' && spec.startsWith('RSA-')) {
          rows.push({
            backend: name,
            operation: `${spec} OAEP-SHA256 decrypt`,
            perSecond: 'refused by SoftHSM2',
          });
          continue;
        }
        const key = await backend.generateKey(spec, `opendke/bench-${spec}/v1`);
        const operator = await backend.operator(key.ref, key.keyId, spec);
        rows.push(await measure(run, name, operator));
        if (spec !== 'RSA-2048') rows.push(await measureUnwrap(run, name, operator));
      }
    } finally {
      await backend.close();
      token.remove();
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const concurrency = Number(process.argv[3] ?? 8);
  const rows = await operatorRates({ seconds, concurrency, specs: SPECS, tokens: ['nss', 'softhsm'] });
  console.log(`| Backend | Operation | per second (${concurrency} in flight, ${seconds} s) |`);
  console.log('| --- | --- | ---: |');
  for (const row of rows) console.log(`| ${row.backend} | ${row.operation} | ${row.perSecond} |`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
