/** Bounded JSON fetches of issuer metadata: a timeout, no redirects, a size cap. */

/** Discovery documents and key sets are a few KiB; anything much larger is not one. */
export const MAX_METADATA_BYTES = 1024 * 1024;

/** Fetches a JSON object. Throws a plain Error whose message is internal detail (never shown to clients). */
export async function fetchJsonObject(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'GET',
      // A redirect could move the fetch to a place the config never allowed.
      redirect: 'error',
      headers: { accept: 'application/json, application/jwk-set+json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason =
      error instanceof Error && error.name === 'TimeoutError'
        ? `timed out after ${timeoutMs} ms`
        : String(error);
    throw new Error(`GET ${url}: ${reason}`, { cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`GET ${url}: HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_METADATA_BYTES) {
    await response.body?.cancel();
    throw new Error(`GET ${url}: response of ${declared} bytes is too large`);
  }
  let text: string;
  try {
    text = await readCapped(response, MAX_METADATA_BYTES);
  } catch (error) {
    throw new Error(`GET ${url}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`GET ${url}: response is not JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`GET ${url}: response is not a JSON object`);
  }
  return json as Record<string, unknown>;
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Node's web streams are async iterable; leaving the loop early cancels the body.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new Error(`response exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
