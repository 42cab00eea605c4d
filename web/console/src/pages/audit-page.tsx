/**
 * Audit (docs/console.md): the log newest first with filters, "Older records" paging back by a seq cursor,
 * and live updates (new records at the top as they are written, with a pause toggle).
 */
import type { JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../api.js';
import type { PageProps } from '../page.js';
import { FiltersForm } from './audit/filters-form.js';
import { useLiveFeed, type LiveState } from './audit/live-feed.js';
import { auditApi, type AuditFilters, type AuditRecordView } from './audit/records.js';
import { RecordsTable } from './audit/records-table.js';
import { ErrorMessage } from '../messages.js';

/** Most rows kept on the page; live updates beyond it drop the oldest (page back again to see them). */
const MAX_ROWS = 2000;

function liveText(live: LiveState): string {
  switch (live.state) {
    case 'connecting':
      return 'Connecting…';
    case 'live':
      return 'Live: new records appear at the top';
    case 'paused':
      return 'Paused';
    case 'stopped':
      return `Live updates stopped: ${live.why}`;
  }
}

export function AuditPage({ navigate }: PageProps): JSX.Element {
  const [filters, setFilters] = useState<AuditFilters>({});
  const [records, setRecords] = useState<AuditRecordView[] | undefined>(undefined);
  const [older, setOlder] = useState<number | undefined>(undefined);
  const [loadedAt, setLoadedAt] = useState<number | undefined>(undefined);
  const [error, setError] = useState('');
  const [paused, setPaused] = useState(false);
  const [loading, setLoading] = useState(false);
  /** The newest seq this page has seen: where the live feed continues from. */
  const cursor = useRef<number | undefined>(undefined);

  useEffect(() => {
    let current = true;
    setRecords(undefined);
    setError('');
    cursor.current = undefined;
    auditApi.page(filters).then(
      (answer) => {
        if (!current) return;
        cursor.current = Math.max(answer.head, answer.records[0]?.seq ?? 0);
        setLoadedAt(cursor.current);
        setRecords(answer.records);
        setOlder(answer.older);
      },
      (e: unknown) => current && setError(describeError(e)),
    );
    return () => {
      current = false;
    };
  }, [filters]);

  const onLive = useCallback((incoming: AuditRecordView[]) => {
    const last = incoming[incoming.length - 1];
    if (last === undefined) return;
    cursor.current = Math.max(cursor.current ?? 0, last.seq);
    setRecords((shown) => {
      const seen = new Set((shown ?? []).map((r) => r.seq));
      const fresh = incoming.filter((r) => !seen.has(r.seq)).reverse();
      return [...fresh, ...(shown ?? [])].slice(0, MAX_ROWS);
    });
  }, []);
  const live = useLiveFeed(filters, cursor, records !== undefined, paused, onLive);

  // The filters an answer was asked with: an older page arriving after the filters changed is dropped.
  const shownFilters = useRef(filters);
  shownFilters.current = filters;
  const loadOlder = () => {
    if (older === undefined) return;
    const askedWith = filters;
    setLoading(true);
    auditApi.page(filters, older).then(
      (answer) => {
        setLoading(false);
        if (shownFilters.current !== askedWith) return;
        setRecords((shown) => [...(shown ?? []), ...answer.records]);
        setOlder(answer.older);
      },
      (e: unknown) => {
        setLoading(false);
        if (shownFilters.current === askedWith) setError(describeError(e));
      },
    );
  };

  const openDocument = (objectId: string) => navigate(`document/${encodeURIComponent(objectId)}`);
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit</h1>
      <FiltersForm onApply={setFilters} />
      <div class="live-bar">
        <p class={`live live-${live.state}`} role="status" aria-live="polite">
          <span class="dot" aria-hidden="true" />
          {liveText(live)}
        </p>
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume live updates' : 'Pause live updates'}
        </button>
      </div>
      <ErrorMessage error={error} />
      {records === undefined ? (
        error === '' ? (
          <p>Loading records…</p>
        ) : null
      ) : records.length === 0 ? (
        <p>No records match these filters.</p>
      ) : (
        <RecordsTable
          caption={`Audit records, newest first (${records.length} shown)`}
          records={records}
          openDocument={openDocument}
          {...(loadedAt === undefined ? {} : { newAbove: loadedAt })}
        />
      )}
      {older === undefined ? (
        records !== undefined && records.length > 0 ? (
          <p class="note">That is the oldest matching record.</p>
        ) : null
      ) : (
        <p>
          <button type="button" onClick={loadOlder} disabled={loading}>
            Older records
          </button>
        </p>
      )}
    </section>
  );
}
