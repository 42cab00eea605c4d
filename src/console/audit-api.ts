/**
 * The Audit page's endpoints (docs/console.md, "Audit"): the log newest first with filters, paged backwards
 * by a seq cursor, and a live feed of the records after a cursor (Server-Sent Events, src/console/audit-live.ts).
 * Both are for admins and auditors and are audited: each page read once, the live feed once when it opens.
 */
import type { FastifyInstance as DkeApp } from 'fastify';
import type { AuditRowQuery } from '../store/index.js';
import { READERS, type ConsoleRouter } from './api.js';
import { badQuery, QUERY_TIME, queryInstant } from './query-time.js';
import type { ConsoleStore } from './sources.js';
import { openAuditLiveFeed, type AuditLiveFeeds } from './audit-live.js';
import { recordView, type AuditRecordView } from './audit-view.js';

/** Records per page: the default and the most one read returns. */
export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;

const seqParam = { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } as const;

/** The filters both endpoints take (query string, text only: nothing is coerced). */
const filterProperties = {
  since: QUERY_TIME,
  until: QUERY_TIME,
  key: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
  /** The token subject or the user name (case-insensitive). */
  subject: { type: 'string', minLength: 1, maxLength: 512 },
  object: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
  result: { enum: ['allowed', 'ok', 'denied', 'failed'] },
  action: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
  /** `hide`: leave out the console's page reads (the actions of its GET routes). */
  reads: { enum: ['hide'] },
} as const;

export const auditPageQuerystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...filterProperties,
    before: seqParam,
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
  },
} as const;

export const auditLiveQuerystring = {
  type: 'object',
  additionalProperties: false,
  properties: { ...filterProperties, after: { type: 'string', pattern: '^(0|[1-9][0-9]{0,15})$' } },
} as const;

type Filters = Partial<Record<keyof typeof filterProperties, string>>;
export interface AuditPageQuerystring extends Filters {
  readonly before?: string;
  readonly limit?: string;
}
export interface AuditLiveQuerystring extends Filters {
  readonly after?: string;
}

function seqOf(value: string, name: string): number {
  const seq = Number(value);
  if (!Number.isSafeInteger(seq)) throw badQuery(`${name} is too large`);
  return seq;
}

/** The store query of the filters; refuses an empty or inverted time range. */
export function filtersToQuery(
  q: Filters,
  readActions: ReadonlySet<string> = new Set(),
): Omit<AuditRowQuery, 'limit'> {
  const since = q.since === undefined ? undefined : new Date(queryInstant(q.since, 'since')).toISOString();
  const until = q.until === undefined ? undefined : new Date(queryInstant(q.until, 'until')).toISOString();
  if (since !== undefined && until !== undefined && since >= until)
    throw badQuery('until must be after since');
  return {
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(q.key === undefined ? {} : { keyName: q.key }),
    ...(q.subject === undefined ? {} : { identity: q.subject }),
    ...(q.object === undefined ? {} : { objectId: q.object }),
    ...(q.result === undefined ? {} : { result: q.result }),
    ...(q.action === undefined ? {} : { action: q.action }),
    ...(q.reads === 'hide' ? { excludeActions: [...readActions] } : {}),
  };
}

/** What a filtered read names, for its audit record. */
function targetOf(query: Omit<AuditRowQuery, 'limit'>): { keyName?: string; objectId?: string } {
  return {
    ...(query.keyName === undefined ? {} : { keyName: query.keyName }),
    ...(query.objectId === undefined ? {} : { objectId: query.objectId }),
  };
}

export interface AuditPage {
  readonly records: AuditRecordView[];
  /** The `before` cursor of the next (older) page; absent on the last page. */
  readonly older?: number;
  /** The newest seq of the log when this page was read: the `after` cursor to follow it live. */
  readonly head: number;
}

export function registerAuditApi(
  route: ConsoleRouter,
  store: ConsoleStore,
  scope: DkeApp,
  readActions: ReadonlySet<string>,
  feeds: AuditLiveFeeds = { pollMs: 1000, heartbeatMs: 10_000, perUser: 5, total: 100 },
): void {
  route(
    {
      method: 'GET',
      url: '/audit',
      action: 'console.audit.query',
      roles: READERS,
      schema: { querystring: auditPageQuerystring },
    },
    async ({ request, audited }) => {
      const q = request.query as AuditPageQuerystring;
      const filters = filtersToQuery(q, readActions);
      const limit = q.limit === undefined ? AUDIT_PAGE_DEFAULT : Number(q.limit);
      if (limit > AUDIT_PAGE_MAX) throw badQuery(`limit must be at most ${AUDIT_PAGE_MAX}`);
      const beforeSeq = q.before === undefined ? undefined : seqOf(q.before, 'before');
      return audited(targetOf(filters), async (): Promise<AuditPage> => {
        const head = (await store.auditTail())?.seq ?? 0;
        const rows = await store.queryAuditRows({
          ...filters,
          ...(beforeSeq === undefined ? {} : { beforeSeq }),
          limit,
        });
        const last = rows[rows.length - 1];
        return {
          records: rows.map(recordView),
          ...(rows.length === limit && last !== undefined && last.seq > 1 ? { older: last.seq } : {}),
          head,
        };
      });
    },
  );

  const open = openAuditLiveFeed(scope, store, feeds);
  route(
    {
      method: 'GET',
      url: '/audit/live',
      action: 'console.audit.live',
      roles: READERS,
      schema: { querystring: auditLiveQuerystring },
    },
    async ({ who, request, reply, audited }) => {
      const q = request.query as AuditLiveQuerystring;
      const filters = filtersToQuery(q, readActions);
      // EventSource sends the last event's id when it reconnects: continue from there.
      const resumed = request.headers['last-event-id'];
      const cursor =
        typeof resumed === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(resumed)
          ? seqOf(resumed, 'Last-Event-ID')
          : q.after === undefined
            ? undefined
            : seqOf(q.after, 'after');
      return audited(targetOf(filters), async () =>
        open(
          request,
          reply,
          filters,
          cursor ?? (await store.auditTail())?.seq ?? 0,
          JSON.stringify([who.session.issuer, who.session.subject]),
          who.session.expiresAt,
        ),
      );
    },
  );
}
