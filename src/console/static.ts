/**
 * The console's pages: built at build time by Vite (web/console → dist/console), served as files; nothing is
 * fetched at run time. Without a build, /console/ says how to make one.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance as DkeApp } from 'fastify';

/** dist/console, from dist/src/console. */
export const CONSOLE_ASSETS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../console');

export async function registerConsoleAssets(app: DkeApp, root: string = CONSOLE_ASSETS): Promise<void> {
  if (!existsSync(path.join(root, 'index.html'))) {
    app.get('/console/', (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The console assets are not built: run `npm run build`.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/console/',
    index: 'index.html',
    wildcard: false,
    dotfiles: 'deny',
    // Fastify's cache-control no-store (src/service/app.ts) stays; our onRequest hook sets it.
    cacheControl: false,
    etag: true,
  });
}
