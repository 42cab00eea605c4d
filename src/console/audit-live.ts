/**
 * The Audit page's live feed (docs/console.md, "Audit"): a Server-Sent Events stream of the records after a
 * cursor that match the page's filters. The server polls the store (every `pollMs`, one indexed query per open
 * feed) rather than hooking appends, so every instance behind a load balancer sees every record, whoever wrote
 * it. A feed ends when the client goes, when the session expires (event `expired`: the page must sign in
 * again rather than keep reading on a session that is over), when a read fails (event `failed`), when the same
 * user opens more than `perUser` feeds (their oldest: event `replaced`), and when the service closes. Past
 * `total` open feeds in the process, a new one is refused (503 ERR_CONSOLE_BUSY).
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance as DkeApp, FastifyReply, FastifyRequest } from 'fastify';
import { DkeError, isDkeError } from '../errors/index.js';
import type { AuditRowQuery } from '../store/index.js';
import type { ConsoleStore } from './sources.js';
import { recordView } from './audit-view.js';

export interface AuditLiveFeeds {
  /** How often each open feed reads the store. */
  readonly pollMs: number;
  /** How often an idle feed sends a comment, so proxies and the server's idle timeout keep it open. */
  readonly heartbeatMs: number;
  /** Most open feeds of one user (issuer and subject): opening one more ends their oldest (`replaced`). */
  readonly perUser: number;
  /** Most open feeds in this process, all users together: one more is 503 ERR_CONSOLE_BUSY. */
  readonly total: number;
}

/** Most records sent in one event; more wait for the next poll (which then comes at once). */
const BATCH = 200;

export type OpenLiveFeed = (
  request: FastifyRequest,
  reply: FastifyReply,
  filters: Omit<AuditRowQuery, 'limit'>,
  after: number,
  /** Who reads: the feeds of one user are capped (AuditLiveFeeds.perUser). */
  user: string,
  /** Session expiry, seconds since the epoch. */
  expiresAt: number,
) => PassThrough;

interface OpenFeed {
  readonly user: string;
  /** Ends the feed, saying why in an event first (or silently). */
  readonly end: (event?: string) => void;
}

export function openAuditLiveFeed(scope: DkeApp, store: ConsoleStore, options: AuditLiveFeeds): OpenLiveFeed {
  const open = new Set<OpenFeed>();
  // A feed never ends on its own: without this the server's close would wait for every open tab.
  scope.addHook('preClose', (done) => {
    for (const feed of [...open]) feed.end();
    done();
  });

  return (request, reply, filters, after, user, expiresAt) => {
    // Bounded work per user (each open feed is one store read a poll): the oldest of theirs makes way.
    const theirs = [...open].filter((feed) => feed.user === user);
    const replaced = theirs.slice(0, Math.max(0, theirs.length - options.perUser + 1));
    // ... and bounded work in all: past the total, a new feed is refused (the page says to retry).
    if (open.size - replaced.length >= options.total) throw new DkeError('ERR_CONSOLE_BUSY');
    for (const feed of replaced) feed.end('replaced');
    const stream = new PassThrough();
    let cursor = after;
    let stopped = false;
    let reading = false;
    const timers: NodeJS.Timeout[] = [];
    const send = (text: string): void => {
      if (!stopped) stream.write(text);
    };
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      open.delete(feed);
      stream.end();
    };
    const feed: OpenFeed = {
      user,
      end(event) {
        if (event !== undefined) send(`event: ${event}\ndata: {}\n\n`);
        stop();
      },
    };
    const poll = async (): Promise<void> => {
      if (reading || stopped) return;
      reading = true;
      try {
        for (;;) {
          const rows = await store.queryAuditRows({ ...filters, afterSeq: cursor, limit: BATCH });
          const last = rows[rows.length - 1];
          if (last === undefined || stopped) break;
          cursor = last.seq;
          send(
            `id: ${cursor}\nevent: records\ndata: ${JSON.stringify({ records: rows.map(recordView) })}\n\n`,
          );
          if (rows.length < BATCH) break;
        }
      } catch (error) {
        request.log.warn({ err: error }, 'console audit live feed: store read failed');
        send(
          `event: failed\ndata: ${JSON.stringify({ error: isDkeError(error) ? error.code : 'ERR_INTERNAL' })}\n\n`,
        );
        stop();
      } finally {
        reading = false;
      }
    };

    open.add(feed);
    reply.raw.on('close', stop);
    timers.push(setInterval(() => void poll(), options.pollMs));
    timers.push(setInterval(() => send(': keep-alive\n\n'), options.heartbeatMs));
    const left = expiresAt * 1000 - Date.now();
    timers.push(setTimeout(() => feed.end('expired'), Math.max(0, left)));
    reply.header('content-type', 'text/event-stream; charset=utf-8');
    reply.header('x-accel-buffering', 'no');
    // The first event says where the feed starts; the page then shows "live".
    send(`retry: 5000\nid: ${cursor}\nevent: ready\ndata: ${JSON.stringify({ after: cursor })}\n\n`);
    return stream;
  };
}
