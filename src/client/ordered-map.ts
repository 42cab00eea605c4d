/**
 * Applies an async function to each item of a stream with up to `concurrency` calls in flight, and yields
 * the results in input order. With concurrency 1 it is a plain sequential map. Bounded memory: at most
 * `concurrency` items are held.
 */
export async function* orderedMap<T, R>(
  source: AsyncIterable<T>,
  concurrency: number,
  fn: (item: T, index: number) => Promise<R> | R,
): AsyncGenerator<R> {
  const inFlight: Promise<R>[] = [];
  let index = 0;
  try {
    for await (const item of source) {
      const position = index++;
      inFlight.push(Promise.resolve().then(() => fn(item, position)));
      if (inFlight.length >= concurrency) yield await (inFlight.shift() as Promise<R>);
    }
    while (inFlight.length > 0) yield await (inFlight.shift() as Promise<R>);
  } finally {
    // Do not leave rejections unhandled when the consumer stops early or an earlier item failed.
    for (const pending of inFlight) pending.catch(() => undefined);
  }
}
