/** A loopback port that was free a moment ago, for a server that must know its URL before it starts. */
import { createServer } from 'node:net';

/** Binds port 0, reads the port and closes again; the caller's server binds it next (a clash is loud). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
