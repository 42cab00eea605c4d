/**
 * The Document page's endpoint (docs/console.md, "Document"): who opened one object. Every record naming the
 * object id (one indexed query), sorted into releases (a native unwrap or MS DKE decrypt that was allowed),
 * refusals (the same actions denied or failed) and other records (revocations and other key changes naming
 * it), plus whether the object is revoked on each key that appears. Console look-ups of the object are left
 * out (the Audit page shows them, filtered by object). Audited as `console.document.query` on the object.
 */
import { READERS, type ConsoleRouter } from './api.js';
import type { ConsoleStore } from './sources.js';
import { recordView, type AuditRecordView } from './audit-view.js';
import { isReleaseAction } from '../audit/release-rules.js';

/** Most records read for one object; `truncated` says when there were more (the newest are kept). */
export const DOCUMENT_RECORDS_MAX = 2000;

/** The 16-byte object_id of docs/format.md in base64url without padding: 22 characters, the last 4 bits zero. */
export const documentParams = {
  type: 'object',
  additionalProperties: false,
  required: ['objectId'],
  properties: { objectId: { type: 'string', pattern: '^[A-Za-z0-9_-]{21}[AQgw]$' } },
} as const;

export interface DocumentView {
  readonly objectId: string;
  /** Allowed releases, newest first. */
  readonly releases: AuditRecordView[];
  /** Denied or failed release attempts, newest first. */
  readonly refusals: AuditRecordView[];
  /** Other records naming the object (e.g. `admin.object.revoke`), newest first. */
  readonly other: AuditRecordView[];
  /** Each key that appears in those records: is the object revoked on it now? */
  readonly keys: { readonly keyName: string; readonly revoked: boolean }[];
  /** More than DOCUMENT_RECORDS_MAX records name the object: only the newest are here. */
  readonly truncated: boolean;
}

export function registerDocumentApi(route: ConsoleRouter, store: ConsoleStore): void {
  route(
    {
      method: 'GET',
      url: '/documents/:objectId',
      action: 'console.document.query',
      roles: READERS,
      schema: { params: documentParams },
    },
    async ({ request, audited }) => {
      const { objectId } = request.params as { objectId: string };
      return audited({ objectId }, async (): Promise<DocumentView> => {
        const rows = await store.queryAuditRows({ objectId, limit: DOCUMENT_RECORDS_MAX + 1 });
        const truncated = rows.length > DOCUMENT_RECORDS_MAX;
        const view: DocumentView = { objectId, releases: [], refusals: [], other: [], keys: [], truncated };
        const keyNames = new Set<string>();
        for (const row of rows.slice(0, DOCUMENT_RECORDS_MAX)) {
          if (row.action.startsWith('console.')) continue;
          if (row.keyName !== null) keyNames.add(row.keyName);
          const record = recordView(row);
          if (!isReleaseAction(row.action)) view.other.push(record);
          else if (row.result === 'allowed' || row.result === 'ok') view.releases.push(record);
          else view.refusals.push(record);
        }
        for (const keyName of [...keyNames].sort()) {
          view.keys.push({ keyName, revoked: await store.isObjectRevoked(keyName, objectId) });
        }
        return view;
      });
    },
  );
}
