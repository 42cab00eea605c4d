/**
 * The Audit page's live updates: an EventSource on /console/api/audit/live (Server-Sent Events) from a seq
 * cursor with the page's filters. The browser reconnects by itself after a dropped connection, sending the
 * last event's id, so nothing is missed; the server ends the feed when the session expires.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { auditApi, type AuditFilters, type AuditRecordView } from './records.js';

export type LiveState =
  | { readonly state: 'connecting' }
  | { readonly state: 'live' }
  | { readonly state: 'paused' }
  | { readonly state: 'stopped'; readonly why: string };

/**
 * Follows the log from `cursor.current` while `enabled` and not `paused`; `onRecords` gets each batch
 * (oldest first). The cursor is read when the feed (re)opens, so pausing and resuming misses nothing.
 */
export function useLiveFeed(
  filters: AuditFilters,
  cursor: { current: number | undefined },
  enabled: boolean,
  paused: boolean,
  onRecords: (records: AuditRecordView[]) => void,
): LiveState {
  const [state, setState] = useState<LiveState>({ state: 'connecting' });
  const deliver = useRef(onRecords);
  deliver.current = onRecords;
  useEffect(() => {
    if (paused) {
      setState({ state: 'paused' });
      return undefined;
    }
    setState({ state: 'connecting' });
    const after = cursor.current;
    // Not yet: the page is (re)loading its first page, which sets the cursor.
    if (!enabled || after === undefined) return undefined;
    const source = new EventSource(auditApi.liveUrl(filters, after));
    const stop = (why: string) => {
      source.close();
      setState({ state: 'stopped', why });
    };
    source.addEventListener('ready', () => setState({ state: 'live' }));
    source.addEventListener('records', (event: MessageEvent<string>) => {
      const { records } = JSON.parse(event.data) as { records: AuditRecordView[] };
      deliver.current(records);
    });
    source.addEventListener('expired', () => stop('your session has expired: sign in again'));
    source.addEventListener('replaced', () =>
      stop('you opened live updates in more tabs; this one gave way (reload to resume here)'),
    );
    source.addEventListener('failed', (event: MessageEvent<string>) => {
      const { error } = JSON.parse(event.data) as { error: string };
      stop(`the service could not read the log (${error})`);
    });
    source.onerror = () => {
      // CLOSED: refused (401, 403) or not an event stream; otherwise the browser is reconnecting.
      if (source.readyState === EventSource.CLOSED) stop('the connection was refused: reload the page');
      else setState({ state: 'connecting' });
    };
    return () => source.close();
  }, [filters, enabled, paused, cursor]);
  return state;
}
