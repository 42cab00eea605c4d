/**
 * Incident report: the audit report of a time range (docs/audit.md "Incident report"), built on the server
 * like `dke audit report` and downloaded as HTML or JSON. Times are entered in the browser's time zone and
 * sent as UTC.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { apiErrorOf, describeError } from '../api.js';
import type { PageProps } from '../page.js';
import type { IncidentReport } from '../../../../src/report/index.js';
import { browserZone, fromLocalInput, toLocalInput } from '../time.js';
import { ErrorMessage, StatusLine } from '../messages.js';

const WEEK_MS = 7 * 86_400_000;

/** What the page shows of a JSON report (the back end's type, type-only: src/report/types.ts). */
type ReportSummary = Pick<IncidentReport, 'integrity' | 'totals' | 'outliers'>;

/** The file name the server gave (Content-Disposition), else a fallback. */
function fileName(answer: Response, fallback: string): string {
  const match = /filename="([^"]+)"/.exec(answer.headers.get('content-disposition') ?? '');
  return match?.[1] ?? fallback;
}

/** Saves a blob as a file through a temporary link (no navigation, so errors stay on the page). */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function ReportPage(_props: PageProps): JSX.Element {
  const zone = browserZone();
  const [since, setSince] = useState(() => toLocalInput(new Date(Date.now() - WEEK_MS)));
  const [until, setUntil] = useState(() => toLocalInput(new Date(Date.now() + 60_000)));
  const [timezone, setTimezone] = useState(zone);
  const [key, setKey] = useState('');
  const [objectId, setObjectId] = useState('');
  const [subject, setSubject] = useState('');
  const [format, setFormat] = useState<'html' | 'json'>('html');
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const [summary, setSummary] = useState<ReportSummary | undefined>(undefined);
  const [error, setError] = useState('');

  const download = async (event: Event) => {
    event.preventDefault();
    setError('');
    setStatus('');
    setSummary(undefined);
    const from = fromLocalInput(since);
    const to = fromLocalInput(until);
    if (from === undefined || to === undefined) {
      setError('Enter both times.');
      return;
    }
    if (from >= to) {
      setError('"From" must be before "To".');
      return;
    }
    const query = new URLSearchParams({ since: from, until: to, format });
    if (timezone.trim() !== '') query.set('timezone', timezone.trim());
    if (key.trim() !== '') query.set('key', key.trim());
    if (objectId.trim() !== '') query.set('object', objectId.trim());
    if (subject.trim() !== '') query.set('subject', subject.trim());
    setBusy(true);
    try {
      const answer = await fetch(`/console/api/report?${query.toString()}`, { credentials: 'same-origin' });
      if (!answer.ok) throw await apiErrorOf(answer);
      const blob = await answer.blob();
      const name = fileName(answer, `opendke-report.${format}`);
      save(blob, name);
      if (format === 'json') setSummary(JSON.parse(await blob.text()) as ReportSummary);
      setStatus(`Downloaded ${name} (${Math.max(1, Math.round(blob.size / 1024))} kB).`);
    } catch (e: unknown) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="report-title">
      <h1 id="report-title">Incident report</h1>
      <p>
        Key releases, refusals, admin changes, per-subject volume and outliers for a time range, headed by a
        full verification of the audit log: the same report as <code>dke audit report</code>.
      </p>
      <form class="panel report-form" onSubmit={(e) => void download(e)} aria-labelledby="report-form-title">
        <h2 id="report-form-title">Range and filters</h2>
        <p class="note" id="report-zone">
          Times are in your browser's time zone, <strong>{zone}</strong>, and sent as UTC.
        </p>
        <div class="fields">
          <p>
            <label for="report-since">From</label>
            <input
              id="report-since"
              type="datetime-local"
              value={since}
              onInput={(e) => setSince(e.currentTarget.value)}
              aria-describedby="report-zone"
              required
            />
          </p>
          <p>
            <label for="report-until">To (not included)</label>
            <input
              id="report-until"
              type="datetime-local"
              value={until}
              onInput={(e) => setUntil(e.currentTarget.value)}
              aria-describedby="report-zone"
              required
            />
          </p>
          <p>
            <label for="report-timezone">Time zone for unusual hours</label>
            <input
              id="report-timezone"
              value={timezone}
              onInput={(e) => setTimezone(e.currentTarget.value)}
              maxLength={64}
              pattern="[A-Za-z][A-Za-z0-9_+/\-]*"
              title="An IANA time zone such as Europe/Berlin or UTC"
            />
          </p>
          <p>
            <label for="report-key">Key (optional)</label>
            <input
              id="report-key"
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
              maxLength={64}
            />
          </p>
          <p>
            <label for="report-object">Object id (optional)</label>
            <input
              id="report-object"
              value={objectId}
              onInput={(e) => setObjectId(e.currentTarget.value)}
              maxLength={128}
            />
          </p>
          <p>
            <label for="report-subject">Subject (optional)</label>
            <input
              id="report-subject"
              value={subject}
              onInput={(e) => setSubject(e.currentTarget.value)}
              maxLength={256}
            />
          </p>
          <p>
            <label for="report-format">Format</label>
            <select
              id="report-format"
              value={format}
              onChange={(e) => setFormat(e.currentTarget.value === 'json' ? 'json' : 'html')}
            >
              <option value="html">HTML (to read and print)</option>
              <option value="json">JSON (for tools)</option>
            </select>
          </p>
        </div>
        <p>
          <button type="submit" disabled={busy}>
            {busy ? 'Building the report…' : 'Download report'}
          </button>
        </p>
      </form>
      <StatusLine>{status}</StatusLine>
      <ErrorMessage error={error} />
      {summary === undefined ? null : (
        <table class="summary">
          <caption>In this report</caption>
          <tbody>
            <tr>
              <th scope="row">Audit log</th>
              <td>
                {summary.integrity.verified ? 'verified' : 'FAILED verification'} up to size{' '}
                {summary.integrity.size}
              </td>
            </tr>
            <tr>
              <th scope="row">Records in the range</th>
              <td>{summary.totals.records}</td>
            </tr>
            <tr>
              <th scope="row">Key releases</th>
              <td>{summary.totals.releases}</td>
            </tr>
            <tr>
              <th scope="row">Refusals</th>
              <td>{summary.totals.refusals}</td>
            </tr>
            <tr>
              <th scope="row">Admin changes</th>
              <td>{summary.totals.adminChanges}</td>
            </tr>
            <tr>
              <th scope="row">Subjects</th>
              <td>{summary.totals.subjects}</td>
            </tr>
            <tr>
              <th scope="row">Outliers</th>
              <td>{summary.outliers.length}</td>
            </tr>
          </tbody>
        </table>
      )}
    </section>
  );
}
