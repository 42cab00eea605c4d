/**
 * The payload pump shared by encryption and decryption: cuts the input into batches of whole chunks,
 * seals or opens each batch into one reused output buffer, and yields it. Memory stays flat whatever
 * the object size (two input batches, one output batch, plus young garbage collected by GarbageBudget).
 * Output alternates between two buffers: a yielded buffer stays valid until the consumer asks for the
 * buffer after the next, so it can write one batch while the next is being sealed or opened.
 */
import { openBatch, sealBatch, type BatchJob } from '../format/chunk-batch.js';
import { TAG_LENGTH } from '../format/constants.js';
import { GarbageBudget } from './memory.js';
import { rechunk } from './rechunk.js';

/** Plaintext bytes per batch: 256 KiB (4 chunks at the default 64 KiB), small with negligible overhead. */
export const BATCH_BYTES = 2 ** 18;

/**
 * Whole chunks per batch: as many as fit in BATCH_BYTES, at least one. A fixed chunk count would let a
 * file at the largest chunk size (2^24, which anyone can write) make a reader reserve 16 chunks = 256 MiB;
 * this way a reader holds at most 4 × max(BATCH_BYTES, C) plus tags (docs/format.md §6).
 */
export function chunksPerBatch(chunkSize: number): number {
  return Math.max(1, Math.floor(BATCH_BYTES / chunkSize));
}

export interface BatchStreamOptions {
  readonly op: 'seal' | 'open';
  readonly key: Buffer;
  readonly chunkSize: number;
  readonly source: AsyncIterable<Uint8Array>;
  /** Bytes already read past the header (decryption). */
  readonly initial?: Buffer;
}

export async function* batchStream(options: BatchStreamOptions): AsyncGenerator<Buffer> {
  const { op, key, chunkSize } = options;
  const batchChunks = chunksPerBatch(chunkSize);
  const plainBatch = chunkSize * batchChunks;
  const sealedBatch = (chunkSize + TAG_LENGTH) * batchChunks;
  const outputs = [0, 1].map(() => Buffer.allocUnsafeSlow(op === 'seal' ? sealedBatch : plainBatch));
  const budget = new GarbageBudget();
  // Not zeroed when done: the consumer may still be writing the last buffer.
  let index = 0;
  for await (const piece of rechunk(
    options.source,
    op === 'seal' ? plainBatch : sealedBatch,
    options.initial,
  )) {
    const job: BatchJob = {
      key,
      chunkSize,
      firstIndex: index * batchChunks,
      data: piece.data,
      last: piece.last,
    };
    const out = outputs[index % 2] as Buffer;
    const result = op === 'seal' ? sealBatch(job, out) : openBatch(job, out);
    index++;
    yield result;
    budget.spend(result.length);
  }
}

/** Copies each buffer of a reusing iterable, for consumers that keep references (streams, arrays). */
export async function* copied(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield Buffer.from(chunk);
}
