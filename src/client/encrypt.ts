/** encrypt(): plaintext stream + holders → OpenDKE v1 stream (docs/format.md). */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DkeError } from '../errors/index.js';
import {
  DEFAULT_CHUNK_LOG2,
  FORMAT_VERSION,
  MAX_CHUNK_LOG2,
  MAX_HOLDERS,
  MIN_CHUNK_LOG2,
  MIN_HOLDERS,
  OBJECT_ID_LENGTH,
  SHARE_LENGTH,
} from '../format/constants.js';
import { serializeUnauthenticated } from '../format/header.js';
import { deriveObjectKeys, headerMac } from '../format/key-schedule.js';
import type { Holder } from '../holders/holder.js';
import { chunkPipeline, copied } from './chunk-pipeline.js';

export interface EncryptOptions {
  /** log2 of the plaintext chunk size; default 16 (64 KiB). */
  readonly chunkLog2?: number;
}

export interface PreparedObject {
  readonly objectId: Buffer;
  readonly header: Buffer;
  readonly payloadKey: Buffer;
  readonly chunkSize: number;
}

/** Picks the object id and shares, wraps each share to its holder and builds the authenticated header. */
export async function prepareObject(
  holders: readonly Holder[],
  options: EncryptOptions = {},
): Promise<PreparedObject> {
  const chunkLog2 = options.chunkLog2 ?? DEFAULT_CHUNK_LOG2;
  if (!Number.isInteger(chunkLog2) || chunkLog2 < MIN_CHUNK_LOG2 || chunkLog2 > MAX_CHUNK_LOG2) {
    throw new DkeError('ERR_USAGE', {
      message: `chunk size must be 2^${MIN_CHUNK_LOG2}..2^${MAX_CHUNK_LOG2}`,
    });
  }
  if (holders.length < MIN_HOLDERS) {
    throw new DkeError('ERR_TOO_FEW_HOLDERS', {
      hint: 'name the provider and the customer holder: --holder A --holder B',
    });
  }
  if (holders.length > MAX_HOLDERS)
    throw new DkeError('ERR_USAGE', { message: `at most ${MAX_HOLDERS} holders` });
  // One key, one holder: the same key as a local and a remote holder is still one key (docs/format.md §3).
  const seen = new Set(holders.map((holder) => holder.keyId));
  if (seen.size !== holders.length) {
    throw new DkeError('ERR_USAGE', {
      message: 'the same holder key is named twice',
      hint: 'every holder must have its own key',
    });
  }
  const objectId = randomBytes(OBJECT_ID_LENGTH);
  const shares = holders.map(() => randomBytes(SHARE_LENGTH));
  try {
    const stanzas = await Promise.all(
      holders.map((holder, i) => holder.wrap(shares[i] as Buffer, { objectId })),
    );
    const keys = deriveObjectKeys(shares, objectId);
    const authenticated = serializeUnauthenticated({
      version: FORMAT_VERSION,
      objectId,
      chunkLog2,
      stanzas,
      commitment: keys.commitment,
    });
    const header = Buffer.concat([authenticated, headerMac(keys.macKey, authenticated)]);
    keys.macKey.fill(0);
    return { objectId, header, payloadKey: keys.payloadKey, chunkSize: 2 ** chunkLog2 };
  } finally {
    for (const share of shares) share.fill(0);
  }
}

/**
 * The encrypted object as an async generator: the header, then the sealed chunks. Buffers are reused for
 * flat memory: a yielded buffer is valid only until the buffer after the next is requested (the CLI
 * writes one while the next is sealed). Use encryptIterable() or encrypt() to keep references.
 */
export async function* encryptReusing(
  source: AsyncIterable<Uint8Array>,
  holders: readonly Holder[],
  options: EncryptOptions = {},
): AsyncGenerator<Buffer> {
  const prepared = await prepareObject(holders, options);
  yield prepared.header;
  try {
    yield* chunkPipeline({ op: 'seal', key: prepared.payloadKey, chunkSize: prepared.chunkSize, source });
  } finally {
    prepared.payloadKey.fill(0);
  }
}

/** The encrypted object as an async generator of independent buffers. */
export function encryptIterable(
  source: AsyncIterable<Uint8Array>,
  holders: readonly Holder[],
  options?: EncryptOptions,
): AsyncGenerator<Buffer> {
  return copied(encryptReusing(source, holders, options));
}

/** Library entry point: a Readable of the OpenDKE object for a plaintext stream. */
export function encrypt(
  source: AsyncIterable<Uint8Array>,
  holders: readonly Holder[],
  options?: EncryptOptions,
): Readable {
  return Readable.from(encryptIterable(source, holders, options), { objectMode: false });
}
