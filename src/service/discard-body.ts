/**
 * Reading and throwing away the rest of a request body the service will not use (too large, or refused
 * before it was read). A client that is still sending when the server closes the connection gets a
 * reset, often before it has read the answer (Node's fetch then sees EPIPE instead of the 413); once the
 * whole body has arrived, the answer always reaches it. Bounded: above `maxBytes` the body is left unread
 * and the connection is closed anyway.
 */
import type { IncomingMessage } from 'node:http';

/** Resolves true once the body has been read to its end, false when it gave up (too large, connection gone). */
export function discardBody(raw: IncomingMessage, maxBytes: number): Promise<boolean> {
  if (raw.complete) return Promise.resolve(true);
  if (raw.destroyed || Number(raw.headers['content-length']) > maxBytes) return Promise.resolve(false);
  return new Promise((resolve) => {
    let discarded = 0;
    const finish = (drained: boolean): void => {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('close', onClose);
      raw.off('error', onClose);
      if (!drained) raw.pause();
      resolve(drained);
    };
    const onData = (chunk: Buffer): void => {
      discarded += chunk.length;
      if (discarded > maxBytes) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onClose = (): void => finish(raw.complete);
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('close', onClose);
    raw.on('error', onClose);
    raw.resume();
  });
}
