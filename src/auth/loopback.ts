/** Loopback checks: plain HTTP is only acceptable when the traffic never leaves the machine. */
import { isIP } from 'node:net';

/** True for a literal loopback IP address (127.0.0.0/8, ::1, and IPv4-mapped 127.x). */
export function isLoopbackIp(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 4) return bare.split('.')[0] === '127';
  if (family === 6) {
    const lower = bare.toLowerCase();
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped?.[1] !== undefined && isLoopbackIp(mapped[1]);
  }
  return false;
}

/** True when a URL may be fetched: https anywhere, http only to a loopback host. */
export function isFetchableUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (url.hostname === 'localhost' || isLoopbackIp(url.hostname));
}
