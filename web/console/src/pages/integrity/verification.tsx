/** One verification of the log as the Integrity page shows it: verified up to N, or the first broken record. */
import type { JSX } from 'preact';
import { duration, localTime } from '../../time.js';
import type { VerificationView } from './types.js';

export function Verification({ result }: { readonly result: VerificationView }): JSX.Element {
  const when = `${localTime(result.finishedAt)}, took ${duration(result.durationMs)}`;
  if (!result.verified) {
    const broken = result.firstBroken;
    return (
      <div class="verdict verdict-fail">
        <p>
          <strong>Verification FAILED</strong>
          {broken === undefined ? '' : ` at record ${broken.seq}: ${broken.reason}`}
        </p>
        <p>
          Records 1 to {result.size} verify; everything from record {result.size + 1} on is in doubt. ({when})
        </p>
      </div>
    );
  }
  return (
    <div class="verdict verdict-ok">
      <p>
        <strong>Verified</strong> up to size {result.size} ({when}).
      </p>
      <dl class="facts">
        <dt>Merkle root</dt>
        <dd>
          <code>{result.rootHash ?? '-'}</code>
        </dd>
        <dt>Chain head</dt>
        <dd>
          <code>{result.chainHead ?? '-'}</code>
        </dd>
        <dt>Checkpoint checked</dt>
        <dd>
          {result.checkpoint === undefined ? (
            'none stored yet'
          ) : (
            <>
              size {result.checkpoint.size}, root <code>{result.checkpoint.rootHash}</code>
            </>
          )}
        </dd>
      </dl>
    </div>
  );
}
