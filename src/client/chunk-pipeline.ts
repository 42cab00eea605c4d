/**
 * The payload pump shared by encryption and decryption. The main thread cuts the input into chunks and
 * hands them to a few worker threads (chunk-workers.ts), which seal or open them while the main thread
 * reads on and writes the results, strictly in chunk order. A chunk is released only once it and every
 * chunk before it succeeded; a failed chunk ends the stream with its error and nothing after it is
 * released. An object of one chunk is done on the main thread, without starting workers.
 *
 * Buffers are recycled, so memory is flat whatever the object's size: at most `window` + 1 input and
 * `window` + 3 output buffers of one chunk each. A yielded buffer stays valid until the consumer asks for
 * the buffer after the next (so it can write one while the next is produced); copy it to keep it.
 *
 * A finished chunk is released at once even while the input is slow to deliver the next piece, so a
 * stalled pipe still gets every chunk that authenticated. Ending early (a failed chunk, a consumer that
 * gives up) waits for the read already in flight, then closes the input.
 */
import { DkeError } from '../errors/index.js';
import { TAG_LENGTH } from '../format/constants.js';
import { runChunkJob, type ChunkOperation, type ChunkResult } from './chunk-job.js';
import { runOnWorker } from './chunk-workers.js';
import { PieceReader, type FilledPiece } from './piece-reader.js';

/** Bytes of chunks in flight: 4 MiB keeps two workers busy at 1 MiB chunks (docs/benchmarks.md). */
export const IN_FLIGHT_BYTES = 4 * 2 ** 20;
/** Below this many chunks in flight small chunks spend their time in messages, not in the cipher. */
const MAX_IN_FLIGHT = 16;

/**
 * Chunks in flight for a chunk size: as many as fit in IN_FLIGHT_BYTES, at least one. A writer picks the
 * chunk size, so at the largest (2^24) a reader keeps one chunk in flight instead of a hostile 16
 * (docs/format.md §6).
 */
export function chunksInFlight(chunkSize: number): number {
  return Math.max(1, Math.min(MAX_IN_FLIGHT, Math.floor(IN_FLIGHT_BYTES / chunkSize)));
}

export interface ChunkPipelineOptions {
  readonly op: ChunkOperation;
  /** The payload key; the caller wipes it once the pipeline has ended. */
  readonly key: Buffer;
  readonly chunkSize: number;
  readonly source: AsyncIterable<Uint8Array>;
  /** Bytes already read past the header (decryption). */
  readonly initial?: Buffer;
}

/** The framing rules of docs/format.md §6 that a sealed last chunk must meet before it is opened. */
function checkSealedLast(length: number, index: number): void {
  if (length < TAG_LENGTH)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'last chunk shorter than a tag' });
  // Only the very first chunk may be empty (the empty object); a later empty last chunk is invalid.
  if (length === TAG_LENGTH && index > 0)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'empty last chunk after data' });
}

interface Filled {
  readonly buffer: ArrayBuffer;
  readonly piece: FilledPiece;
}

interface InFlight {
  readonly index: number;
  readonly result: Promise<ChunkResult>;
}

export async function* chunkPipeline(options: ChunkPipelineOptions): AsyncGenerator<Buffer> {
  const { op, key, chunkSize } = options;
  const window = chunksInFlight(chunkSize);
  const inputSize = op === 'seal' ? chunkSize : chunkSize + TAG_LENGTH;
  const outputSize = op === 'seal' ? chunkSize + TAG_LENGTH : chunkSize;
  const freeInputs: ArrayBuffer[] = [];
  const freeOutputs: ArrayBuffer[] = [];
  const held: ArrayBuffer[] = []; // yielded, possibly still being written by the consumer
  const pending: InFlight[] = [];
  const reader = new PieceReader(options.source, options.initial);

  const startFill = (): Promise<Filled> => {
    const buffer = freeInputs.pop() ?? new ArrayBuffer(inputSize);
    const filled = reader.fill(new Uint8Array(buffer)).then((piece) => ({ buffer, piece }));
    filled.catch(() => undefined); // observed when awaited, perhaps after a yield
    return filled;
  };
  const takeHead = async (): Promise<Buffer> => {
    const { index, result } = pending.shift() as InFlight;
    const { input, output, length, failed } = await result;
    freeInputs.push(input);
    if (length === undefined) {
      freeOutputs.push(output);
      throw failed?.authentication === true
        ? new DkeError('ERR_DECRYPTION_FAILED', { detail: `chunk ${index} failed authentication` })
        : new DkeError('ERR_INTERNAL', { detail: `chunk ${index} could not be processed` });
    }
    held.push(output);
    if (held.length > 2) freeOutputs.push(held.shift() as ArrayBuffer); // the consumer is past it
    return Buffer.from(output, 0, length);
  };

  let filling: Promise<Filled> | undefined = startFill();
  let index = 0;
  try {
    for (;;) {
      if (filling === undefined) {
        if (pending.length === 0) break;
        yield await takeHead();
        continue;
      }
      if (pending.length >= window) {
        yield await takeHead();
        continue;
      }
      const head = pending[0];
      if (head !== undefined) {
        const first = await Promise.race([
          filling.then(() => 'input' as const),
          head.result.then(
            () => 'chunk' as const,
            () => 'chunk' as const,
          ),
        ]);
        if (first === 'chunk') {
          yield await takeHead();
          continue;
        }
      }
      const { buffer, piece } = await filling;
      filling = undefined;
      if (op === 'open' && piece.last) checkSealedLast(piece.length, index);
      const job = {
        id: index,
        index,
        last: piece.last,
        length: piece.length,
        input: buffer,
        output: freeOutputs.pop() ?? new ArrayBuffer(outputSize),
      };
      if (index === 0 && piece.last) {
        pending.push({ index, result: Promise.resolve(runChunkJob(op, key, job)) });
      } else {
        const result = runOnWorker(op, key, job);
        result.catch(() => undefined); // observed in order by takeHead()
        pending.push({ index, result });
      }
      index++;
      if (!piece.last) filling = startFill();
    }
  } finally {
    // Stopped early (a failure, the consumer gave up): let the jobs finish, release none of them.
    await Promise.allSettled(pending.splice(0).map((job) => job.result));
    await filling?.catch(() => undefined);
    await reader.close();
    for (const buffer of [...freeInputs, ...freeOutputs]) new Uint8Array(buffer).fill(0);
  }
}

/** Copies each buffer of a reusing iterable, for consumers that keep references (streams, arrays). */
export async function* copied(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield Buffer.from(chunk);
}
