/**
 * decrypt(): OpenDKE v1 stream + holders → plaintext (docs/format.md §7, the order of checks).
 * Nothing is released before the header is authenticated, and each chunk only after its tag verified.
 */
import { Readable } from 'node:stream';
import { DkeError, isDkeError } from '../errors/index.js';
import { serializeUnauthenticated, type Header, type Stanza } from '../format/header.js';
import { deriveObjectKeys, verifyHeaderKeys } from '../format/key-schedule.js';
import { readShareHeader } from '../format/share-jwe.js';
import { describeStanza, type Holder } from '../holders/holder.js';
import { readHeader } from './read-header.js';
import { chunkPipeline, copied } from './chunk-pipeline.js';

/** Holder types this implementation knows; others are reported as unsupported. */
export const KNOWN_HOLDER_TYPES: readonly string[] = ['local', 'remote'];

export interface DecryptOptions {
  /** Called for stanzas no given holder can unwrap (e.g. builds remote holders for trusted key services). */
  readonly resolveHolder?: (stanza: Stanza) => Holder | undefined;
  /** Called once the header is authenticated, before any plaintext. */
  readonly onHeader?: (header: Header) => void;
}

function holderFor(stanza: Stanza, holders: readonly Holder[], options: DecryptOptions): Holder | undefined {
  return holders.find((holder) => holder.canUnwrap(stanza)) ?? options.resolveHolder?.(stanza);
}

/** Every stanza must be bound to this object and name its own key id before any holder is asked. */
function checkBindings(header: Header): void {
  for (const stanza of header.stanzas) {
    let problem: string | undefined;
    try {
      const share = readShareHeader(stanza.body);
      if (share.kid !== stanza.keyId) problem = 'its JWE names another key id';
      else if (!share.objectId.equals(header.objectId)) problem = 'its JWE names another object id';
    } catch (error) {
      if (!isDkeError(error)) throw error;
      // Fixed descriptions of the rule that failed (share-jwe.ts), never text from the file.
      problem = error.detail ?? 'its share is unreadable';
    }
    if (problem !== undefined) {
      throw new DkeError('ERR_HOLDER_BINDING_MISMATCH', {
        message: `the stanza of holder ${describeStanza(stanza)} is not bound to this file (${problem})`,
        hint: 'the file was altered: a holder entry was copied from another file or edited',
      });
    }
  }
}

/** Finds a holder for every stanza; names every holder that is missing, before contacting any of them. */
function assignHolders(header: Header, holders: readonly Holder[], options: DecryptOptions): Holder[] {
  const assigned = header.stanzas.map((stanza) => holderFor(stanza, holders, options));
  const missing = header.stanzas.filter((_, i) => assigned[i] === undefined);
  const unknownType = missing.find((stanza) => !KNOWN_HOLDER_TYPES.includes(stanza.type));
  if (unknownType !== undefined) {
    throw new DkeError('ERR_HOLDER_TYPE_UNSUPPORTED', {
      message: `holder type "${unknownType.type}" is not supported (holder ${describeStanza(unknownType)})`,
      hint: 'this file needs a newer OpenDKE or a plug-in for that holder type',
    });
  }
  if (missing.length > 0) {
    const names = missing.map(describeStanza).join('; ');
    throw new DkeError('ERR_HOLDER_KEY_MISSING', {
      message: `missing key for ${missing.length === 1 ? 'holder' : 'holders'}: ${names}`,
      hint: missing.some((stanza) => stanza.type === 'remote')
        ? 'pass the key file with --identity, or trust the key service with --key-service'
        : "pass that holder's key file with --identity",
    });
  }
  return assigned as Holder[];
}

/** Unwraps all shares: local holders first, so a missing local key never costs an (audited) remote call. */
async function unwrapAll(header: Header, holders: Holder[]): Promise<Buffer[]> {
  const shares: Buffer[] = new Array<Buffer>(header.stanzas.length);
  const order = header.stanzas
    .map((_, i) => i)
    .sort((a, b) => Number(holders[a]?.type === 'remote') - Number(holders[b]?.type === 'remote'));
  for (const i of order) {
    const stanza = header.stanzas[i] as Stanza;
    try {
      shares[i] = await (holders[i] as Holder).unwrap(stanza, { objectId: header.objectId });
    } catch (error) {
      if (isDkeError(error, 'ERR_HOLDER_UNWRAP_FAILED') || isDkeError(error, 'ERR_HOLDER_BINDING_MISMATCH')) {
        throw new DkeError(error.code, {
          message: `holder ${describeStanza(stanza)} could not unwrap its share`,
          detail: error.detail,
          hint: 'the key does not match this file, or the file was altered',
        });
      }
      throw error;
    }
  }
  return shares;
}

/**
 * The plaintext as an async generator of reused buffers: each is valid only until the buffer after the next
 * is requested. Every yielded byte is authenticated; a failure later in the stream still means the whole
 * output is invalid (docs/format.md §7). Use decryptIterable() or decrypt() to keep references.
 */
export async function* decryptReusing(
  source: AsyncIterable<Uint8Array>,
  holders: readonly Holder[],
  options: DecryptOptions = {},
): AsyncGenerator<Buffer> {
  // One iterator for the header and the payload, closed on every way out: a refusal after the header (a
  // missing key, a key service saying no) must not leave the source suspended with its file still open.
  const iterator = source[Symbol.asyncIterator]();
  try {
    const { header, rest } = await readHeader({ [Symbol.asyncIterator]: () => iterator });
    checkBindings(header);
    const shares = await unwrapAll(header, assignHolders(header, holders, options));
    const keys = deriveObjectKeys(shares, header.objectId);
    for (const share of shares) share.fill(0);
    try {
      verifyHeaderKeys(keys, header.commitment, serializeUnauthenticated(header), header.mac);
      options.onHeader?.(header);
      yield* chunkPipeline({
        op: 'open',
        key: keys.payloadKey,
        chunkSize: 2 ** header.chunkLog2,
        source: rest.stream,
        initial: rest.buffered,
      });
    } finally {
      keys.payloadKey.fill(0);
      keys.macKey.fill(0);
    }
  } finally {
    await iterator.return?.();
  }
}

/** The plaintext as an async generator of independent buffers. */
export function decryptIterable(
  source: AsyncIterable<Uint8Array>,
  holders: readonly Holder[],
  options?: DecryptOptions,
): AsyncGenerator<Buffer> {
  return copied(decryptReusing(source, holders, options));
}

export function decrypt(
  source: AsyncIterable<Uint8Array>,
  holders: readonly Holder[],
  options?: DecryptOptions,
): Readable {
  return Readable.from(decryptIterable(source, holders, options), { objectMode: false });
}
