/**
 * Helpers for the Audit and Document pages' tests: a real native unwrap against the service (a share wrapped
 * to the key's published public key for a fresh object, unwrapped with a token of the development issuer),
 * and a reader of the Server-Sent Events of /console/api/audit/live over a real HTTP connection.
 */
import { randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import type { DevIssuer } from '../../src/devissuer/index.js';
import { TEST_AUDIENCE } from './issuer.js';

export interface WrappedShare {
  /** base64url of the 16-byte object id. */
  readonly objectId: string;
  readonly stanza: string;
}

/** What an encrypting client does for one holder: fetch the key's public key, wrap a share to it. */
export async function wrapShareFor(
  serviceUrl: string,
  keyName: string,
  objectId = randomBytes(16),
): Promise<WrappedShare> {
  const published = await fetch(`${serviceUrl}/keys/${keyName}`);
  if (published.status !== 200) throw new Error(`GET /keys/${keyName}: ${published.status}`);
  const { jwk, keyId } = (await published.json()) as { jwk: JWK; keyId: string };
  const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(jwk), { objectId, keyId });
  return { objectId: objectId.toString('base64url'), stanza };
}

/** POST /keys/<name>/unwrap as `userName` (sub `sub-<userName>`); the HTTP status. */
export async function unwrapAs(
  serviceUrl: string,
  issuer: DevIssuer,
  keyName: string,
  share: WrappedShare,
  userName: string,
): Promise<number> {
  const token = await issuer.signToken({
    sub: `sub-${userName}`,
    aud: TEST_AUDIENCE,
    preferred_username: userName,
  });
  const answer = await fetch(`${serviceUrl}/keys/${keyName}/unwrap`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ stanza: share.stanza }),
  });
  await answer.arrayBuffer();
  return answer.status;
}

export interface SseEvent {
  readonly event: string;
  readonly id?: string;
  readonly data: string;
}

export interface SseReader {
  readonly status: number;
  readonly headers: Headers;
  /** The next event (comments skipped); rejects after `timeoutMs` or when the stream ends first. */
  next(timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens an event stream with `headers` (e.g. the session cookie) and parses its events as they come. */
export async function openEventStream(url: string, headers: Record<string, string>): Promise<SseReader> {
  const abort = new AbortController();
  const answer = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const body = answer.body;
  if (body === null) throw new Error('no body');
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const parse = (block: string): SseEvent | undefined => {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    return data.length === 0
      ? undefined
      : { event, ...(id === undefined ? {} : { id }), data: data.join('\n') };
  };
  return {
    status: answer.status,
    headers: answer.headers,
    async next(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parse(block);
          if (event !== undefined) return event;
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no event in time');
        let timer: NodeJS.Timeout | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('no event in time')), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error('the stream ended');
        buffer += chunk.value;
      }
    },
    close() {
      abort.abort();
    },
  };
}
