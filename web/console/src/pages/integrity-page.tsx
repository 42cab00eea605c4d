/**
 * Integrity: the latest signed checkpoint with its cosignatures, the witnesses and their age, the quorum and
 * fail-closed rule, alarms, and "Verify now" (the whole log against the checkpoint, on the server).
 */
import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { call, describeError } from '../api.js';
import type { PageProps } from '../page.js';
import { ago, localTime } from '../time.js';
import type { IntegrityState, VerificationView } from './integrity/types.js';
import { Verification } from './integrity/verification.js';
import { Witnesses } from './integrity/witnesses.js';
import { ErrorMessage } from '../messages.js';

/** The state is re-read this often while the page is open, so ages and alarms stay current; each read is an
 * audited call (two records), so not more often. */
const REFRESH_MS = 60_000;

export function IntegrityPage(_props: PageProps): JSX.Element {
  const [state, setState] = useState<IntegrityState | undefined>(undefined);
  const [error, setError] = useState('');
  const [verifying, setVerifying] = useState(false);

  const reload = useCallback(() => {
    call<IntegrityState>('GET', '/integrity').then(
      (answer) => {
        setState(answer);
        setError('');
      },
      (e: unknown) => setError(describeError(e)),
    );
  }, []);
  useEffect(() => {
    reload();
    // Each read is an audited call: a tab nobody looks at does not read.
    const timer = window.setInterval(() => {
      if (!document.hidden) reload();
    }, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);

  const verify = () => {
    setVerifying(true);
    call<{ verification: VerificationView }>('POST', '/integrity/verify')
      .then(
        () => reload(),
        (e: unknown) => setError(describeError(e)),
      )
      .finally(() => setVerifying(false));
  };

  const checkpoint = state?.checkpoint;
  return (
    <section aria-labelledby="integrity-title">
      <h1 id="integrity-title">Integrity</h1>
      <ErrorMessage error={error} />
      {state === undefined ? (
        <p>Loading…</p>
      ) : (
        <>
          <section aria-labelledby="alarms-title" class="panel">
            <h2 id="alarms-title">Alarms</h2>
            {state.alarms.length === 0 ? (
              <p role="status" class="ok-text">
                No alarms.
              </p>
            ) : (
              <div role="alert">
                <ul class="alarms">
                  {state.alarms.map((alarm) => (
                    <li key={`${alarm.kind}-${alarm.witness ?? ''}`}>
                      <strong>{alarm.kind.replace(/-/g, ' ')}</strong>: {alarm.message}
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </section>

          <section aria-labelledby="verify-title" class="panel">
            <h2 id="verify-title">Verification</h2>
            <p>
              Checks every record's hash and link to the one before it, rebuilds the Merkle tree and compares
              its root with the signed checkpoint. The last result is kept by this server process only.
            </p>
            <p>
              <button type="button" onClick={verify} disabled={verifying}>
                {verifying ? 'Verifying…' : 'Verify now'}
              </button>
            </p>
            <div role="status" aria-live="polite">
              {state.lastVerification === undefined ? (
                <p>Not verified by this server process yet.</p>
              ) : (
                <Verification result={state.lastVerification} />
              )}
            </div>
            <p class="note">
              The log now holds {state.log.size} records
              {state.log.chainHead === undefined ? '' : '; chain head '}
              {state.log.chainHead === undefined ? null : <code>{state.log.chainHead}</code>}.
            </p>
          </section>

          <section aria-labelledby="checkpoint-title" class="panel">
            <h2 id="checkpoint-title">Latest signed checkpoint</h2>
            {checkpoint === undefined ? (
              <p>No signed checkpoint yet.</p>
            ) : (
              <>
                <dl class="facts">
                  <dt>Origin</dt>
                  <dd>{checkpoint.origin}</dd>
                  <dt>Size</dt>
                  <dd>{checkpoint.size}</dd>
                  <dt>Root hash</dt>
                  <dd>
                    <code>{checkpoint.rootHash}</code>
                  </dd>
                  <dt>Signed</dt>
                  <dd>
                    {localTime(checkpoint.createdAt)} ({ago(checkpoint.ageSeconds)}) by{' '}
                    {checkpoint.signedBy.join(', ')}
                  </dd>
                  <dt>Cosigned by</dt>
                  <dd>
                    {checkpoint.cosignatures.length === 0 ? (
                      'no witness yet'
                    ) : (
                      <ul class="plain">
                        {checkpoint.cosignatures.map((c) => (
                          <li key={c.witness}>
                            {c.witness} at {localTime(c.time)} ({ago(c.ageSeconds)})
                          </li>
                        ))}
                      </ul>
                    )}
                  </dd>
                </dl>
                <details>
                  <summary>The signed note</summary>
                  <pre class="note-text">{checkpoint.noteText}</pre>
                </details>
              </>
            )}
          </section>

          <section aria-labelledby="witnesses-title" class="panel">
            <h2 id="witnesses-title">Witnesses</h2>
            <Witnesses state={state} />
          </section>
        </>
      )}
    </section>
  );
}
