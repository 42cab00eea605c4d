/** A progress bar on stderr for large inputs, only when stderr is a terminal. */

const MIN_SIZE_FOR_BAR = 16 * 1024 * 1024;

/** Passes the bytes through, drawing a bar when stderr is a terminal and the input is large. */
export async function* withProgress(
  source: AsyncIterable<Uint8Array>,
  total: number | undefined,
  label: string,
): AsyncGenerator<Uint8Array> {
  if (total === undefined || total < MIN_SIZE_FOR_BAR || !process.stderr.isTTY || process.env.CI) {
    yield* source;
    return;
  }
  // Loaded only when a bar is drawn: it costs memory that a piped run should not pay.
  const { SingleBar, Presets } = await import('cli-progress');
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
  try {
    for await (const chunk of source) {
      seen += chunk.length;
      bar.update(mib(seen));
      yield chunk;
    }
  } finally {
    bar.stop();
  }
}
