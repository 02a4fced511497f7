/**
 * @module
 */

/**
 * A lazily started, streamed list: iterate it with `for await`, or collect it with
 * {@link Listing.toArray}. Each iteration sends a new request; leaving the loop early cancels it.
 *
 * @example
 * ```ts
 * for await (const rse of rucio.rses.list()) console.log(rse.rse);
 * const names = await rucio.scopes.list().toArray();
 * ```
 */
export class Listing<T> implements AsyncIterable<T> {
  readonly #open: () => AsyncIterable<T>;

  /** @param open Starts the underlying request(s) and yields items. */
  constructor(open: () => AsyncIterable<T>) {
    this.#open = open;
  }

  /** Iterate with `for await`; each iteration makes a fresh request. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.#open()[Symbol.asyncIterator]();
  }

  /** Collect every item. Mind the size: prefer `for await` for large listings. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const batch of batchesOf(this)) for (const item of batch) out.push(item);
    return out;
  }

  /** The first item, or `undefined` for an empty listing (cancels the rest). */
  async first(): Promise<T | undefined> {
    for await (const item of this) return item;
    return undefined;
  }

  /** A listing of `fn(item)` for each item. */
  map<U>(fn: (item: T) => U): Listing<U> {
    const self = this;
    return new Listing(async function* () {
      for await (const item of self) yield fn(item);
    });
  }

  /** A listing over the items of an array-valued promise (for endpoints that answer one JSON array). */
  static fromPromise<T>(load: () => Promise<readonly T[]>): Listing<T> {
    return new Listing(async function* () {
      yield* await load();
    });
  }
}

/** Sources of listings made by {@link listingOfBatches}. */
const batchSources = new WeakMap<Listing<unknown>, () => AsyncIterable<readonly unknown[]>>();

/**
 * @internal A listing over a source that yields items in arrays (one per chunk of a streamed body).
 * Iterating it costs one async step per item in the caller's loop only; layers that pass the
 * listing on ({@link batchesOf}) move whole arrays.
 */
export function listingOfBatches<T>(open: () => AsyncIterable<readonly T[]>): Listing<T> {
  const listing = new Listing<T>(async function* () {
    for await (const batch of open()) for (const item of batch) yield item;
  });
  batchSources.set(listing, open);
  return listing;
}

/** @internal The items of a listing in arrays: its source's own arrays, or one item each. */
export function batchesOf<T>(listing: Listing<T>): AsyncIterable<readonly T[]> {
  const open = batchSources.get(listing) as (() => AsyncIterable<readonly T[]>) | undefined;
  if (open) return open();
  return {
    async *[Symbol.asyncIterator]() {
      for await (const item of listing) yield [item];
    },
  };
}
