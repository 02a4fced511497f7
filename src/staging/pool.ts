/**
 * @internal Bounded concurrency.
 * @module
 */

/**
 * Run `work` over `items` with at most `limit` in flight; results keep the input order. `work` must
 * not throw for a single item (report per-item failures in its result); a throw aborts the run.
 */
export async function mapPool<T, R>(items: readonly T[] | AsyncIterable<T>, limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  const iterator = Symbol.asyncIterator in (items as object) ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : toAsync(items as readonly T[]);
  let index = 0;
  let failed: unknown;
  let hasFailed = false;
  const worker = async () => {
    for (;;) {
      if (hasFailed) return;
      const next = await iterator.next();
      if (next.done) return;
      const i = index++;
      try {
        results[i] = await work(next.value, i);
      } catch (e) {
        if (!hasFailed) {
          hasFailed = true;
          failed = e;
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (hasFailed) throw failed;
  return results;
}

async function* toAsyncGen<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

function toAsync<T>(items: readonly T[]): AsyncIterator<T> {
  return toAsyncGen(items)[Symbol.asyncIterator]();
}
