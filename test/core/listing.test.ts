import { describe, expect, it } from 'vitest';
import { batchesOf, listingOfBatches } from '../../src/core/listing.js';
import { Listing } from '../../src/index.js';

/** A source of arrays that records how far it was read and whether it was stopped. */
function source(batches: number[][], failAfter?: number) {
  const state = { pulled: 0, finished: false, stopped: false };
  const open = () =>
    (async function* () {
      try {
        for (const b of batches) {
          if (failAfter !== undefined && state.pulled >= failAfter) throw new Error('boom');
          state.pulled++;
          await null;
          yield b;
        }
        state.finished = true;
      } finally {
        if (!state.finished) state.stopped = true;
      }
    })();
  return { open, state };
}

describe('listingOfBatches', () => {
  it('yields every item in order, skipping empty arrays, and collects with toArray', async () => {
    const { open } = source([[1, 2], [], [3], [4, 5, 6]]);
    const listing = listingOfBatches(open);
    expect(listing).toBeInstanceOf(Listing);
    const seen: number[] = [];
    for await (const x of listing) seen.push(x);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await listing.toArray()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await listing.map((x) => x * 10).toArray()).toEqual([10, 20, 30, 40, 50, 60]);
    expect(await listing.first()).toBe(1);
  });

  it('stops the source when the loop is left early', async () => {
    const { open, state } = source([[1, 2], [3, 4], [5, 6], [7, 8]]);
    for await (const x of listingOfBatches(open)) if (x === 3) break;
    expect(state.stopped).toBe(true);
    expect(state.pulled).toBe(2);
  });

  it('serves overlapping next() calls in order', async () => {
    const { open } = source([[1], [2, 3], [4]]);
    const it = listingOfBatches(open)[Symbol.asyncIterator]();
    const results = await Promise.all([it.next(), it.next(), it.next(), it.next(), it.next()]);
    expect(results).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
      { value: 3, done: false },
      { value: 4, done: false },
      { value: undefined, done: true },
    ]);
  });

  it('delivers the items before a failure, then the failure', async () => {
    const { open } = source([[1, 2], [3], [4]], 2);
    const seen: number[] = [];
    const err = await (async () => {
      for await (const x of listingOfBatches(open)) seen.push(x);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([1, 2, 3]);
    expect((err as Error).message).toBe('boom');
  });

  it('batchesOf passes batches through, and wraps a plain listing item by item', async () => {
    const { open } = source([[1, 2], [3]]);
    const arrays: Iterable<number>[] = [];
    for await (const b of batchesOf(listingOfBatches(open))) arrays.push(b);
    expect(arrays).toEqual([[1, 2], [3]]);
    const plain = new Listing(async function* () {
      yield* [7, 8];
    });
    const wrapped: Iterable<number>[] = [];
    for await (const b of batchesOf(plain)) wrapped.push(b);
    expect(wrapped).toEqual([[7], [8]]);
  });

  it('takes lazy single-pass batches: an item is made when it is asked for, and each batch is done before the next is pulled', async () => {
    const made: number[] = [];
    let pulls = 0;
    const lazy = (from: number, to: number) =>
      (function* () {
        for (let i = from; i < to; i++) {
          made.push(i);
          yield i;
        }
      })();
    const open = () =>
      (async function* () {
        pulls++;
        yield lazy(0, 3);
        pulls++;
        yield lazy(3, 5);
      })();
    const it = listingOfBatches(open)[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 0, done: false });
    expect(made).toEqual([0]);
    expect(await it.next()).toEqual({ value: 1, done: false });
    expect(made).toEqual([0, 1]);
    await it.next();
    expect(pulls).toBe(1);
    expect(await it.next()).toEqual({ value: 3, done: false });
    expect(pulls).toBe(2);
    expect(await listingOfBatches(open).toArray()).toEqual([0, 1, 2, 3, 4]);
  });
});
