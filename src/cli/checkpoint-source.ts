/**
 * Reads a checkpoint note or proof bundle for the offline verifiers: a file, `-` (stdin), or, for
 * checkpoints, an https URL (http only to loopback, as src/auth/loopback.ts allows). The network lives here,
 * in the CLI; the verify core (src/transparency) only ever sees the text. Bounded: a timeout and a size cap.
 */
import { promises as fs } from 'node:fs';
import { isFetchableUrl } from '../auth/loopback.js';
import { DkeError } from '../errors/index.js';
import { ioError } from '../fs/io-error.js';

/** Larger than any note or proof the verifiers accept (128 KiB notes, 144 KiB proofs): refused early. */
export const MAX_EVIDENCE_BYTES = 256 * 1024;
export const FETCH_TIMEOUT_MS = 10_000;

async function readBounded(chunks: AsyncIterable<Uint8Array>, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (total > MAX_EVIDENCE_BYTES) {
      throw new DkeError('ERR_PROOF_INVALID', {
        message: `${what} is larger than ${MAX_EVIDENCE_BYTES} bytes`,
      });
    }
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

async function readFileOrStdin(source: string, what: string): Promise<Buffer> {
  if (source === '-') return readBounded(process.stdin, what);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(source, 'r');
  } catch (cause) {
    throw ioError(`cannot read the ${what} ${source}`, cause);
  }
  try {
    return await readBounded(handle.createReadStream({ autoClose: false }), what);
  } catch (cause) {
    if (cause instanceof DkeError) throw cause;
    throw ioError(`cannot read the ${what} ${source}`, cause);
  } finally {
    await handle.close();
  }
}

async function fetchText(url: string, what: string): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'text/plain' },
      redirect: 'error',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (cause) {
    throw new DkeError('ERR_REMOTE_UNAVAILABLE', { message: `cannot fetch the ${what} from ${url}`, cause });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new DkeError('ERR_REMOTE_PROTOCOL', { message: `${url} answered HTTP ${response.status}` });
  }
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_EVIDENCE_BYTES) {
    await response.body.cancel();
    throw new DkeError('ERR_PROOF_INVALID', {
      message: `${what} is larger than ${MAX_EVIDENCE_BYTES} bytes`,
    });
  }
  try {
    return await readBounded(response.body, what);
  } catch (cause) {
    if (cause instanceof DkeError) throw cause;
    throw new DkeError('ERR_REMOTE_UNAVAILABLE', { message: `cannot fetch the ${what} from ${url}`, cause });
  }
}

/** The bytes of a checkpoint (file, `-` or URL). */
export async function readCheckpointSource(source: string): Promise<Buffer> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    if (!isFetchableUrl(source)) {
      throw new DkeError('ERR_USAGE', {
        message: 'a checkpoint URL must use https (http only to a loopback address) and carry no credentials',
      });
    }
    return fetchText(source, 'checkpoint');
  }
  return readFileOrStdin(source, 'checkpoint');
}

/** The bytes of a proof bundle (file or `-`; never fetched: check-proof works offline). */
export function readBundleSource(source: string): Promise<Buffer> {
  return readFileOrStdin(source, 'proof bundle');
}
