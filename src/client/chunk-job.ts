/**
 * One chunk's work, the same on the main thread and in a worker (chunk-worker.ts): seal or open the input
 * into a recycled output buffer. The messages between the pipeline and its workers are these shapes.
 */
import { isDkeError } from '../errors/index.js';
import { openChunkInto, sealChunkInto } from '../format/chunk-cipher.js';

export type ChunkOperation = 'seal' | 'open';

export interface ChunkJob {
  readonly id: number;
  readonly index: number;
  readonly last: boolean;
  /** Input bytes at the start of `input`. */
  readonly length: number;
  readonly input: ArrayBuffer;
  readonly output: ArrayBuffer;
}

export interface ChunkResult {
  readonly id: number;
  /** Bytes written at the start of `output`; undefined when the chunk failed. */
  readonly length: number | undefined;
  /** Set when the chunk failed: true for an authentication failure, false for anything else. */
  readonly failed?: { readonly authentication: boolean };
  readonly input: ArrayBuffer;
  readonly output: ArrayBuffer;
}

export function runChunkJob(op: ChunkOperation, key: Uint8Array, job: ChunkJob): ChunkResult {
  const input = new Uint8Array(job.input, 0, job.length);
  const output = new Uint8Array(job.output);
  try {
    const length =
      op === 'seal'
        ? sealChunkInto(key, job.index, job.last, input, output)
        : openChunkInto(key, job.index, job.last, input, output);
    return { id: job.id, length, input: job.input, output: job.output };
  } catch (error) {
    const authentication = isDkeError(error, 'ERR_DECRYPTION_FAILED');
    return {
      id: job.id,
      length: undefined,
      failed: { authentication },
      input: job.input,
      output: job.output,
    };
  }
}
