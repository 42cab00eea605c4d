/** A progress bar on stderr for large inputs, only when stderr is a terminal. */
import { Transform } from 'node:stream';
import { SingleBar, Presets } from 'cli-progress';

const MIN_SIZE_FOR_BAR = 16 * 1024 * 1024;

export function progressTap(total: number | undefined, label: string): Transform | undefined {
  if (total === undefined || total < MIN_SIZE_FOR_BAR || !process.stderr.isTTY || process.env.CI)
    return undefined;
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} MiB | {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  const mib = (bytes: number): number => Math.round(bytes / 1048576);
  bar.start(mib(total), 0);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      bar.update(mib(seen));
      done(null, chunk);
    },
    flush(done) {
      bar.stop();
      done();
    },
    destroy(error, done) {
      bar.stop();
      done(error);
    },
  });
}
