/** The Integrity page's witnesses and rules: each witness's newest cosignature and its age, the quorum. */
import type { JSX } from 'preact';
import { ago, localTime } from '../../time.js';
import type { IntegrityState } from './types.js';

export function Witnesses({ state }: { readonly state: IntegrityState }): JSX.Element {
  const { rules, witnesses } = state;
  if (rules === undefined) return <p>This service runs without checkpoints.</p>;
  return (
    <>
      <dl class="facts">
        <dt>Checkpoints</dt>
        <dd>every {rules.checkpointIntervalSeconds} s while the log grows</dd>
        <dt>Quorum</dt>
        <dd>
          {witnesses.length === 0
            ? 'no witnesses configured'
            : `${rules.quorum} of ${witnesses.length} witness${witnesses.length === 1 ? '' : 'es'}` +
              (rules.quorumAgeSeconds === undefined
                ? ', never met yet'
                : `, last met ${ago(rules.quorumAgeSeconds)}`)}
        </dd>
        <dt>Fail-closed rule</dt>
        <dd>
          {rules.requireCosignatureWithinSeconds === undefined
            ? 'off (key releases do not wait for witnesses)'
            : `on: releases need a quorum cosignature younger than ${rules.requireCosignatureWithinSeconds} s; ` +
              (rules.witnessHealth === 'unwitnessed' ? 'NOT met now: releases are refused' : 'met now')}
        </dd>
        <dt>Stale after</dt>
        <dd>
          {rules.staleAfterSeconds} s (
          {rules.staleBasis === 'configured'
            ? 'the fail-closed limit'
            : '2 x the checkpoint interval, counted once the witness is behind the latest checkpoint'}
          )
        </dd>
      </dl>
      {witnesses.length === 0 ? null : (
        <table>
          <caption>Witnesses</caption>
          <thead>
            <tr>
              <th scope="col">Witness</th>
              <th scope="col">Newest cosignature</th>
              <th scope="col">Age</th>
              <th scope="col">Last submission</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {witnesses.map((w) => (
              <tr key={w.name}>
                <th scope="row">
                  {w.name}
                  <br />
                  <code>{w.url}</code>
                </th>
                <td>
                  {w.newest === undefined ? 'none yet' : `size ${w.newest.size}, ${localTime(w.newest.time)}`}
                </td>
                <td>{w.newest === undefined ? '-' : ago(w.newest.ageSeconds)}</td>
                <td>
                  {w.lastOutcome === undefined
                    ? '-'
                    : `${w.lastOutcome.replace(/_/g, ' ')}${w.failures > 0 ? ` (${w.failures} failed in a row)` : ''}`}
                </td>
                <td>
                  <span class={w.stale ? 'badge badge-fail' : 'badge badge-ok'}>
                    {w.stale ? 'stale' : 'fresh'}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
