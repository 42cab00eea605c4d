/** Reads just the header from the front of a stream and hands back the rest unread. */
import { DkeError } from '../errors/index.js';
import { parseHeader, type Header } from '../format/header.js';

export interface AfterHeader {
  /** Bytes read past the header. */
  readonly buffered: Buffer;
  /** The remaining stream. */
  readonly stream: AsyncIterable<Uint8Array>;
}

export async function readHeader(
  source: AsyncIterable<Uint8Array>,
): Promise<{ header: Header; rest: AfterHeader }> {
  const iterator = source[Symbol.asyncIterator]();
  let buffered = Buffer.alloc(0);
  for (;;) {
    const parsed = parseHeader(buffered);
    if (!('incomplete' in parsed)) {
      const stream: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => iterator };
      return { header: parsed.header, rest: { buffered: buffered.subarray(parsed.length), stream } };
    }
    const next = await iterator.next();
    if (next.done === true) {
      throw new DkeError('ERR_FORMAT_MALFORMED', {
        message: buffered.length === 0 ? 'empty input: not an OpenDKE file' : 'truncated OpenDKE header',
      });
    }
    buffered = Buffer.concat([buffered, next.value]);
  }
}
