/**
 * The payload pump shared by encryption and decryption: cuts the input into chunks, keeps several chunks
 * sealing or opening at once on libuv's thread pool (chunk-cipher.ts), and yields the results strictly in
 * chunk order. A chunk is yielded only once it and every chunk before it succeeded; a failed chunk ends
 * the stream with its error and nothing after it is released.
 *
 * A finished chunk is released at once even while the input is slow to deliver the next piece, so a
 * stalled pipe still gets every chunk that authenticated. Ending early (a failed chunk, a consumer that
 * gives up) waits for the read already in flight, then closes the input.
 *
 * Memory is bounded by the window, not the object: two input pieces (rechunk), the in-flight jobs' input
 * copies and outputs, and the young garbage that GarbageBudget collects.
 */
import { DkeError } from '../errors/index.js';
import { TAG_LENGTH } from '../format/constants.js';
import { openChunk, sealChunk, type ChunkKey } from '../format/chunk-cipher.js';
import { GarbageBudget } from './memory.js';
import { rechunk, type Piece } from './rechunk.js';

/** Bytes of chunks in flight: 8 MiB keeps both cores busy at 1 MiB chunks (docs/benchmarks.md). */
export const IN_FLIGHT_BYTES = 8 * 2 ** 20;
/** More jobs than this only queue on the thread pool (4 threads) without adding speed. */
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
  readonly op: 'seal' | 'open';
  readonly key: ChunkKey;
  readonly chunkSize: number;
  readonly source: AsyncIterable<Uint8Array>;
  /** Bytes already read past the header (decryption). */
  readonly initial?: Buffer;
}

/** The framing rules of docs/format.md §6 that a sealed last chunk must meet before it is opened. */
function checkSealedLast(piece: Piece, index: number): void {
  if (piece.data.length < TAG_LENGTH)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'last chunk shorter than a tag' });
  // Only the very first chunk may be empty (the empty object); a later empty last chunk is invalid.
  if (piece.data.length === TAG_LENGTH && index > 0)
    throw new DkeError('ERR_DECRYPTION_FAILED', { detail: 'empty last chunk after data' });
}

export async function* chunkPipeline(options: ChunkPipelineOptions): AsyncGenerator<Buffer> {
  const { op, key, chunkSize } = options;
  const window = chunksInFlight(chunkSize);
  const pieceSize = op === 'seal' ? chunkSize : chunkSize + TAG_LENGTH;
  const pending: Promise<Buffer>[] = [];
  const budget = new GarbageBudget();
  const pieces = rechunk(options.source, pieceSize, options.initial)[Symbol.asyncIterator]();
  const takeHead = async (): Promise<Buffer> => {
    const result = await (pending.shift() as Promise<Buffer>);
    budget.spend(result.length);
    return result;
  };
  let index = 0;
  let nextPiece: Promise<IteratorResult<Piece>> | undefined;
  try {
    nextPiece = pieces.next();
    nextPiece.catch(() => undefined); // observed when awaited, perhaps after a yield
    for (;;) {
      // A finished head chunk is released while the input is slow to come (a stalled pipe still gets
      // every chunk that authenticated), otherwise the next piece is started first.
      const head = pending[0];
      if (head !== undefined) {
        const first = await Promise.race([
          nextPiece.then(() => 'piece' as const),
          head.then(
            () => 'chunk' as const,
            () => 'chunk' as const,
          ),
        ]);
        if (first === 'chunk') {
          yield await takeHead();
          continue;
        }
      }
      const piece = await nextPiece;
      if (piece.done === true) break;
      if (op === 'open' && piece.value.last) checkSealedLast(piece.value, index);
      // The job copies the piece when called, so rechunk may reuse its buffer for the next piece.
      const job =
        op === 'seal'
          ? sealChunk(key, index, piece.value.last, piece.value.data)
          : openChunk(key, index, piece.value.last, piece.value.data);
      job.catch(() => undefined); // observed in order by takeHead(); a later failure must not go unhandled
      pending.push(job);
      index++;
      nextPiece = pieces.next();
      nextPiece.catch(() => undefined);
      if (pending.length >= window) yield await takeHead();
    }
    while (pending.length > 0) yield await takeHead();
  } finally {
    // Stopped early (a failure, the consumer gave up): let the jobs finish, release none of them.
    // The input may have a read in flight (the next piece was requested before this chunk was released):
    // the input is closed once that read ends, as it would be after any read.
    await Promise.allSettled(pending.splice(0));
    await nextPiece?.catch(() => undefined);
    await pieces.return?.(undefined);
  }
}
