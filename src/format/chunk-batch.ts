/**
 * Seals and opens runs of consecutive chunks ("batches") in one call, so a batch can go to a worker
 * thread as one message. A batch holds whole chunks; only the object's last batch holds the last chunk.
 * The rules are those of docs/format.md §6; chunk-cipher.ts does the per-chunk AEAD.
 */
import { DkeError } from '../errors/index.js';
import { TAG_LENGTH } from './constants.js';
import { openChunk, sealChunkInto } from './chunk-cipher.js';

export interface BatchJob {
  readonly key: Buffer;
  readonly chunkSize: number;
  /** Index of the batch's first chunk in the object. */
  readonly firstIndex: number;
  readonly data: Buffer;
  /** True for the object's last batch (it ends with the last chunk). */
  readonly last: boolean;
}

/** Plaintext chunk lengths of a batch (the last batch of an empty object is one empty chunk). */
function lengths(total: number, size: number, last: boolean): number[] {
  if (!last && (total === 0 || total % size !== 0))
    throw new DkeError('ERR_INTERNAL', { detail: 'partial non-last batch' });
  const out: number[] = [];
  for (let at = 0; at < total; at += size) out.push(Math.min(size, total - at));
  if (out.length === 0) out.push(0);
  return out;
}

/** Sealed size of a batch of `length` plaintext bytes. */
export function sealedBatchLength(length: number, chunkSize: number): number {
  return length + Math.max(1, Math.ceil(length / chunkSize)) * TAG_LENGTH;
}

/** Seals a batch into `out` (reused by streams) or a new buffer; returns the sealed bytes. */
export function sealBatch(job: BatchJob, out?: Buffer): Buffer {
  const sizes = lengths(job.data.length, job.chunkSize, job.last);
  const target = sizedBuffer(out, job.data.length + sizes.length * TAG_LENGTH);
  let read = 0;
  let written = 0;
  sizes.forEach((length, i) => {
    const isLast = job.last && i === sizes.length - 1;
    const plaintext = job.data.subarray(read, read + length);
    written += sealChunkInto(job.key, job.firstIndex + i, isLast, plaintext, target, written);
    read += length;
  });
  return target;
}

function sizedBuffer(out: Buffer | undefined, length: number): Buffer {
  if (out === undefined) return Buffer.allocUnsafeSlow(length);
  if (out.length < length) throw new DkeError('ERR_INTERNAL', { detail: 'batch output buffer too small' });
  return out.subarray(0, length);
}

/** Opens a batch into `out` (reused by streams) or a new buffer; returns the plaintext bytes. */
export function openBatch(job: BatchJob, out?: Buffer): Buffer {
  const sealedSize = job.chunkSize + TAG_LENGTH;
  const total = job.data.length;
  if (!job.last && total % sealedSize !== 0)
    throw new DkeError('ERR_INTERNAL', { detail: 'partial non-last batch' });
  const count = Math.max(1, Math.ceil(total / sealedSize));
  const finalLength = total - (count - 1) * sealedSize;
  if (finalLength < TAG_LENGTH)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'last chunk shorter than a tag' });
  // Only the very first chunk may be empty (the empty object); a later empty last chunk is invalid.
  if (job.last && finalLength === TAG_LENGTH && job.firstIndex + count - 1 > 0) {
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'empty last chunk after data' });
  }
  const target = sizedBuffer(out, total - count * TAG_LENGTH);
  let written = 0;
  try {
    for (let i = 0; i < count; i++) {
      const start = i * sealedSize;
      const isLast = job.last && i === count - 1;
      const plain = openChunk(
        job.key,
        job.firstIndex + i,
        isLast,
        job.data.subarray(start, Math.min(start + sealedSize, total)),
      );
      written += plain.copy(target, written);
      plain.fill(0);
    }
  } catch (error) {
    target.fill(0, 0, written); // nothing of a failed batch leaves this function
    throw error;
  }
  return target;
}
