/**
 * Cuts a byte stream into pieces of a fixed size, copied into buffers the caller provides, and says which
 * piece is the last: a full piece is only known not to be the last once at least one more byte (or the
 * end) has been seen, so a stream whose length is a multiple of the size ends with a full last piece.
 *
 * The source may reuse its buffer once the next piece is requested: every byte is copied out before.
 */
export interface FilledPiece {
  readonly length: number;
  readonly last: boolean;
}

export class PieceReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private current: Uint8Array | undefined;
  private offset = 0;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>, initial?: Uint8Array) {
    async function* feed(): AsyncGenerator<Uint8Array> {
      if (initial !== undefined && initial.length > 0) yield initial;
      yield* source;
    }
    this.iterator = feed();
  }

  /** Fills `target` (fully, unless the input ends first). */
  async fill(target: Uint8Array): Promise<FilledPiece> {
    let length = 0;
    while (length < target.length) {
      if (!(await this.hasMore())) return { length, last: true };
      const current = this.current as Uint8Array;
      const take = Math.min(target.length - length, current.length - this.offset);
      target.set(current.subarray(this.offset, this.offset + take), length);
      length += take;
      this.offset += take;
    }
    return { length, last: !(await this.hasMore()) };
  }

  /** Closes the source (its file, its stream). */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }

  private async hasMore(): Promise<boolean> {
    while (!this.ended && (this.current === undefined || this.offset >= this.current.length)) {
      const next = await this.iterator.next();
      if (next.done === true) {
        this.ended = true;
        this.current = undefined;
      } else {
        this.current = next.value;
        this.offset = 0;
      }
    }
    return !this.ended;
  }
}
