/**
 * Status: `dke doctor`'s self-test of this service (docs/doctor.md), run by the server: every finding with
 * what was found and the plain fix, grouped by result, and the verdict. "Run again" asks for a fresh run.
 */
import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { call, describeError } from '../api.js';
import type { PageProps } from '../page.js';
import { duration, localTime } from '../time.js';

// The back end's own types, type-only (src/console/status-api.ts, src/doctor/types.ts).
import type { StatusAnswer } from '../../../../src/console/status-api.js';
import type { FindingStatus } from '../../../../src/doctor/index.js';
import { ErrorMessage } from '../messages.js';

const GROUPS: readonly { readonly status: FindingStatus; readonly title: string }[] = [
  { status: 'fail', title: 'Failures' },
  { status: 'warn', title: 'Warnings' },
  { status: 'ok', title: 'Passed' },
  { status: 'skip', title: 'Skipped (could not run here)' },
];

function verdict(answer: StatusAnswer): string {
  const { counts, ok } = answer.report;
  if (!ok) return `${counts.fail} check${counts.fail === 1 ? '' : 's'} failed, ${counts.warn} warning(s)`;
  if (counts.warn > 0) return `No failures, ${counts.warn} warning${counts.warn === 1 ? '' : 's'}`;
  return 'All checks passed';
}

export function StatusPage(_props: PageProps): JSX.Element {
  const [answer, setAnswer] = useState<StatusAnswer | undefined>(undefined);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState('');

  const run = useCallback((rerun: boolean) => {
    setRunning(true);
    call<StatusAnswer>('GET', rerun ? '/status?rerun=true' : '/status')
      .then(
        (next) => {
          setAnswer(next);
          setError('');
        },
        (e: unknown) => setError(describeError(e)),
      )
      .finally(() => setRunning(false));
  }, []);
  useEffect(() => run(false), [run]);

  return (
    <section aria-labelledby="status-title">
      <h1 id="status-title">Status</h1>
      <p>
        The same checks as <code>dke doctor</code>, run by this server against its public URL, its issuers,
        its keys and its store.
      </p>
      <p>
        <button type="button" onClick={() => run(true)} disabled={running}>
          {running ? 'Checking…' : 'Run again'}
        </button>
      </p>
      <ErrorMessage error={error} />
      <div role="status" aria-live="polite">
        {answer === undefined ? (
          <p>{running ? 'Running the checks…' : ''}</p>
        ) : (
          <p class={answer.report.ok ? 'verdict verdict-ok' : 'verdict verdict-fail'}>
            <strong>{verdict(answer)}</strong> for <code>{answer.report.url}</code>: checked{' '}
            {localTime(answer.checkedAt)}, took {duration(answer.durationMs)}
            {answer.cached ? ' (a result kept from moments ago)' : ''}.
          </p>
        )}
      </div>
      {answer === undefined
        ? null
        : GROUPS.map(({ status, title }) => {
            const findings = answer.report.findings.filter((f) => f.status === status);
            if (findings.length === 0) return null;
            return (
              <table key={status} class={`findings findings-${status}`}>
                <caption>
                  {title} ({findings.length})
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Check</th>
                    <th scope="col">Result</th>
                    <th scope="col">Found</th>
                    <th scope="col">Fix</th>
                  </tr>
                </thead>
                <tbody>
                  {findings.map((f) => (
                    <tr key={f.id}>
                      <th scope="row">
                        <code>{f.id}</code>
                      </th>
                      <td>
                        <span class={`badge badge-${f.status}`}>{f.status}</span>
                      </td>
                      <td>{f.summary}</td>
                      <td>{f.fix ?? '-'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            );
          })}
    </section>
  );
}
