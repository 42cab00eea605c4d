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
  const arrived: Uint8Array[] = [];
  let arrivedLength = 0;
  let ended = false;
  for (;;) {
    if (arrivedLength > 0) {
      buffered = Buffer.concat([buffered, ...arrived]);
      arrived.length = 0;
      arrivedLength = 0;
    }
    const parsed = parseHeader(buffered);
    if (!('incomplete' in parsed)) {
      const stream: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => iterator };
      return { header: parsed.header, rest: { buffered: buffered.subarray(parsed.length), stream } };
    }
    if (ended) {
      throw new DkeError('ERR_FORMAT_MALFORMED', {
        message: buffered.length === 0 ? 'empty input: not an OpenDKE file' : 'truncated OpenDKE header',
      });
    }
    // Parse again only once the input has doubled (or ended): a stream arriving in tiny pieces then costs
    // linear time instead of one full re-parse per piece. A bad prefix still fails within twice its length.
    while (!ended && arrivedLength < Math.max(buffered.length, 1)) {
      const next = await iterator.next();
      if (next.done === true) ended = true;
      else {
        arrived.push(next.value);
        arrivedLength += next.value.length;
      }
    }
  }
}
