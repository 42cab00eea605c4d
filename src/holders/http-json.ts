/** JSON over HTTP for holder clients: timeouts, size limits, and status codes mapped to registry errors. */
import { DkeError } from '../errors/index.js';

export interface JsonRequest {
  readonly method: 'GET' | 'POST';
  readonly token?: string;
  readonly body?: unknown;
  readonly form?: Record<string, string>;
  readonly basicAuth?: { readonly user: string; readonly password: string };
  readonly timeoutMs?: number;
}

const MAX_ANSWER_BYTES = 1024 * 1024;

export async function requestJson<T>(url: string, request: JsonRequest): Promise<T> {
  return (await requestJsonAnswer<T>(url, request)).json;
}

/** A JSON answer with its response headers (e.g. X-Request-Id, which audit records carry). */
export interface JsonAnswer<T> {
  readonly json: T;
  readonly headers: Headers;
}

export async function requestJsonAnswer<T>(url: string, request: JsonRequest): Promise<JsonAnswer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: string | undefined;
  if (request.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.body);
  } else if (request.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(request.form).toString();
  }
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  if (request.basicAuth !== undefined) {
    const { user, password } = request.basicAuth;
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(user)}:${encodeURIComponent(password)}`).toString('base64')}`;
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: request.method,
      headers,
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(request.timeoutMs ?? 15_000),
    });
  } catch (cause) {
    throw new DkeError('ERR_REMOTE_UNAVAILABLE', {
      message: `cannot reach ${url}`,
      cause,
      detail: String(cause),
    });
  }
  const text = await response.text();
  if (text.length > MAX_ANSWER_BYTES)
    throw new DkeError('ERR_REMOTE_PROTOCOL', { message: `answer from ${url} is too large` });
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) throw statusError(url, response.status, json);
  if (typeof json !== 'object' || json === null)
    throw new DkeError('ERR_REMOTE_PROTOCOL', { message: `answer from ${url} is not JSON` });
  return { json: json as T, headers: response.headers };
}

function statusError(url: string, status: number, json: unknown): DkeError {
  const said = (json as { message?: unknown; error?: unknown } | undefined) ?? {};
  const serverMessage = typeof said.message === 'string' ? said.message.slice(0, 200) : undefined;
  const serverCode = typeof said.error === 'string' ? said.error.slice(0, 64) : undefined;
  const suffix =
    serverMessage === undefined
      ? `HTTP ${status}`
      : `${serverMessage}${serverCode === undefined ? '' : ` (${serverCode})`}`;
  if (status === 401)
    return new DkeError('ERR_REMOTE_UNAUTHENTICATED', {
      message: `${url} refused the token: ${suffix}`,
      hint: 'get a fresh token for this key service',
    });
  if (status === 403 || status === 404 || status === 410)
    return new DkeError('ERR_REMOTE_DENIED', { message: `${url} refused: ${suffix}` });
  if (status === 400 && serverCode === 'ERR_HOLDER_UNWRAP_FAILED') {
    return new DkeError('ERR_HOLDER_UNWRAP_FAILED', { message: `${url}: ${suffix}` });
  }
  return new DkeError('ERR_REMOTE_PROTOCOL', { message: `${url} answered ${suffix}` });
}
