/**
 * The public URL the checks run against, and the label URL of each key: Office reaches the service at the
 * URL in the sensitivity label, `<public base URL>/<key name>` (no trailing slash, no key id), and builds
 * every key id from the same base (docs/ms-dke.md).
 */
import { isLoopbackIp } from '../auth/loopback.js';
import type { ServiceConfig } from '../config/index.js';
import { finding, type Finding } from './types.js';

/** The base URL without trailing slashes (the service ignores them too: docs/config.md). */
export function normalizeBaseUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The URL to put in a sensitivity label for this key. */
export function labelUrl(baseUrl: string, keyName: string): string {
  return `${normalizeBaseUrl(baseUrl)}/${keyName}`;
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || isLoopbackIp(hostname);
}

/** Where the service listens, as a URL: for a config without publicBaseUrl and no --url. */
export function listenUrl(config: ServiceConfig): string {
  const { host, port, tls } = config.server;
  const reachable =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `${tls === undefined ? 'http' : 'https'}://${reachable}:${port}`;
}

/** The URL to check: --url, else the config's public base URL, else where the config says it listens. */
export function resolvePublicUrl(
  config: ServiceConfig | undefined,
  url: string | undefined,
): string | undefined {
  const chosen =
    url ?? config?.server.publicBaseUrl ?? (config === undefined ? undefined : listenUrl(config));
  return chosen === undefined ? undefined : normalizeBaseUrl(chosen);
}

/** Is the public URL one Office can use, and does it agree with the configuration? */
export function checkPublicUrl(url: string, config: ServiceConfig | undefined): Finding {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return finding(
      'public-url',
      'fail',
      `${url} is not a URL`,
      'give the URL clients use, e.g. https://dke.contoso.com',
    );
  }
  const details = { url };
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '') {
    return finding(
      'public-url',
      'fail',
      `${url} carries credentials, a query or a fragment`,
      'the public URL is scheme://host[:port][/path] only',
      details,
    );
  }
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
    return finding(
      'public-url',
      'fail',
      `${url} is plain http: Office only talks to a DKE service over https`,
      'terminate TLS in the service (server.tls) or in a proxy in front of it, and set server.publicBaseUrl to the https URL',
      details,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return finding(
      'public-url',
      'fail',
      `${url} is not an http(s) URL`,
      'give the https URL clients use',
      details,
    );
  }
  const configured = config?.server.publicBaseUrl;
  if (config !== undefined && configured === undefined) {
    return finding(
      'public-url',
      'warn',
      'server.publicBaseUrl is not set: key ids are built from the Host header of each request',
      `set server.publicBaseUrl to the URL clients use (${url}?): it is the base of every key id Office stores in documents`,
      details,
    );
  }
  if (configured !== undefined && normalizeBaseUrl(configured) !== url) {
    return finding(
      'public-url',
      'warn',
      `checking ${url}, but server.publicBaseUrl is ${configured}`,
      'key ids name server.publicBaseUrl: make sure clients reach the service there, or correct it',
      { ...details, publicBaseUrl: configured },
    );
  }
  const note =
    parsed.protocol === 'http:' ? ' (plain http on loopback: fine for a test, Office needs https)' : '';
  return finding('public-url', 'ok', `public URL ${url}${note}`, null, details);
}
