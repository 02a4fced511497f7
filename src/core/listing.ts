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
const batchSources = new WeakMap<Listing<unknown>, () => AsyncIterable<Iterable<unknown>>>();

/**
 * @internal A listing over a source that yields items in batches (one per chunk of a streamed body).
 * Iterating it costs one async step per item in the caller's loop only; layers that pass the
 * listing on ({@link batchesOf}) move whole batches.
 *
 * A batch may be single-pass and lazy (NDJSON lines parsed as their items are asked for): it is
 * iterated once, to its end, before the next batch is asked for.
 */
export function listingOfBatches<T>(open: () => AsyncIterable<Iterable<T>>): Listing<T> {
  const listing = new Listing<T>(() => ({ [Symbol.asyncIterator]: () => new Flattener(open()[Symbol.asyncIterator]()) }));
  batchSources.set(listing, open);
  return listing;
}

/**
 * The items of a source of batches, one `next()` at a time: an item already at hand is answered
 * with a resolved promise (about half the cost of an `async function*` doing the same, which
 * matters at a million items). Calls that overlap are served in order.
 */
class Flattener<T> implements AsyncIterator<T> {
  readonly #source: AsyncIterator<Iterable<T>>;
  #items: Iterator<T> | undefined;
  #done = false;
  #busy: Promise<IteratorResult<T>> | undefined;

  constructor(source: AsyncIterator<Iterable<T>>) {
    this.#source = source;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#busy === undefined && this.#items !== undefined) {
      const r = this.#items.next();
      if (!r.done) return Promise.resolve(r);
      this.#items = undefined;
    }
    const previous = this.#busy;
    const p = previous ? previous.then(() => this.#pull(), () => this.#pull()) : this.#pull();
    this.#busy = p;
    const settle = () => {
      if (this.#busy === p) this.#busy = undefined;
    };
    p.then(settle, settle);
    return p;
  }

  async #pull(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.#items !== undefined) {
        const r = this.#items.next();
        if (!r.done) return r;
        this.#items = undefined;
      }
      if (this.#done) return { value: undefined, done: true };
      const r = await this.#source.next();
      if (r.done) {
        this.#done = true;
        return { value: undefined, done: true };
      }
      this.#items = r.value[Symbol.iterator]();
    }
  }

  /** Leaving the loop early: stops the source (which cancels its request). */
  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.#done = true;
    this.#items = undefined;
    await this.#source.return?.();
    return { value: value as T, done: true };
  }
}

/** @internal The items of a listing in batches: its source's own, or one array per item. */
export function batchesOf<T>(listing: Listing<T>): AsyncIterable<Iterable<T>> {
  const open = batchSources.get(listing) as (() => AsyncIterable<Iterable<T>>) | undefined;
  if (open) return open();
  return {
    async *[Symbol.asyncIterator]() {
      for await (const item of listing) yield [item];
    },
  };
}
