/**
 * The CLI removes its live temporaries (src/fs/temporary-files.ts) when it is stopped by SIGINT,
 * SIGTERM or SIGHUP, or exits in any other way, so partial plaintext outlives only a SIGKILL or a power
 * loss (and then only until the next dke run writing into that folder sweeps it). Installed by the
 * commands that write files, not globally: `dke serve` handles its signals itself.
 */
import { unlinkSync } from 'node:fs';
import { liveTemporaries } from '../fs/temporary-files.js';

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
let installed = false;

function removeLiveTemporaries(): void {
  for (const file of liveTemporaries()) {
    try {
      unlinkSync(file); // synchronous on purpose: the process ends right after
    } catch {
      /* already gone */
    }
  }
}

export function removeTemporariesOnExit(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeLiveTemporaries);
  for (const signal of Object.keys(SIGNAL_NUMBERS) as (keyof typeof SIGNAL_NUMBERS)[]) {
    process.once(signal, () => {
      removeLiveTemporaries();
      process.exit(128 + SIGNAL_NUMBERS[signal]);
    });
  }
}
