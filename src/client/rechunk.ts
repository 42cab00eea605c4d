/**
 * Cuts a byte stream into pieces of exactly `size` bytes, except the last, and says which piece is the
 * last: a piece is only released once at least one more byte (or the end) has been seen, so a stream
 * whose length is a multiple of `size` ends with a full last piece.
 *
 * Memory is two piece buffers, reused: a yielded piece is valid only until the consumer asks for the
 * next-but-one piece, so consumers must finish with a piece before requesting the next.
 */
export interface Piece {
  readonly data: Buffer;
  readonly last: boolean;
}

export async function* rechunk(
  source: AsyncIterable<Uint8Array>,
  size: number,
  initial?: Buffer,
): AsyncGenerator<Piece> {
  const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
  let current = 0;
  let filled = 0;
  let full: Buffer | undefined; // a complete piece waiting to learn whether it is the last

  async function* feed(): AsyncGenerator<Uint8Array> {
    if (initial !== undefined && initial.length > 0) yield initial;
    yield* source;
  }

  for await (const input of feed()) {
    let offset = 0;
    while (offset < input.length) {
      if (full !== undefined) {
        yield { data: full, last: false };
        full = undefined;
      }
      const pending = buffers[current] as Buffer;
      const take = Math.min(size - filled, input.length - offset);
      pending.set(input.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === size) {
        full = pending;
        current = 1 - current;
        filled = 0;
      }
    }
  }
  if (full !== undefined) yield { data: full, last: true };
  else yield { data: (buffers[current] as Buffer).subarray(0, filled), last: true };
}
