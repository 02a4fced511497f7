/**
 * Fuzzing the NDJSON stream parser (every Rucio listing): arbitrary chunkings, arbitrary bytes, and
 * truncation at any byte. Property: the values, or a typed StreamError; never a wrong value, never
 * another exception, never a hang (each case is bounded by a per-case timeout).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { DlaasError, StreamError, parseNdjson } from '../../src/index.js';
import { useLedger } from '../support/reliability-ledger.js';
import { check, fuzzAsync, nastyString } from './fuzz-helpers.js';

const ledger = useLedger(import.meta.url);
const T = 150_000;
const enc = new TextEncoder();

/** A body made of byte chunks. */
function stream(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks[i++];
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

/** Split bytes at the given cut points. */
function cut(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

async function collect(chunks: readonly Uint8Array[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of parseNdjson(stream(chunks))) out.push(v);
  return out;
}

/** Deep equality of JSON values (key order ignored, -0 and 0 alike, as JSON.parse gives). */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

// What Rucio listings carry: objects (rows) and bare strings (names), with any Unicode in them.
const row = fc.oneof(
  fc.dictionary(nastyString(10), fc.oneof(nastyString(30), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 })), { maxKeys: 5 }),
  nastyString(40),
);
const listing = fc.array(row, { maxLength: 12 });
const cuts = fc.array(fc.nat(4_000), { maxLength: 16 });

describe('fuzz: NDJSON splitting', () => {
  it('valid NDJSON in any chunking (UTF-8 split anywhere, blank lines, with or without a final newline): exactly the values', async () => {
    ledger.scenario();
    await fuzzAsync(
      ledger,
      'NDJSON splitting: valid bodies, any chunking',
      fc.record({ values: listing, cuts, finalNewline: fc.boolean(), blanks: fc.array(fc.nat(12), { maxLength: 3 }) }),
      async ({ values, cuts: c, finalNewline, blanks }) => {
        const lines = values.map((v) => JSON.stringify(v));
        for (const b of blanks) lines.splice(Math.min(b, lines.length), 0, '');
        const text = lines.join('\n') + (finalNewline ? '\n' : '');
        const got = await collect(cut(enc.encode(text), c));
        const want = values.map((v) => JSON.parse(JSON.stringify(v)) as unknown);
        check(got.length === want.length && got.every((g, i) => sameJson(g, want[i])), () => `got ${JSON.stringify(got).slice(0, 200)} for ${JSON.stringify(want).slice(0, 200)}`);
      },
      { timeLimitMs: 60_000 },
    );
  }, T);

  it('arbitrary bytes in any chunking: values, or a typed StreamError', async () => {
    ledger.scenario();
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(listing, fc.uint8Array({ maxLength: 6 }), fc.nat(500)).map(([v, junk, at]) => {
        const b = enc.encode(v.map((x) => JSON.stringify(x)).join('\n'));
        const i = at % (b.length + 1);
        return new Uint8Array([...b.subarray(0, i), ...junk, ...b.subarray(i)]);
      }),
    );
    await fuzzAsync(
      ledger,
      'NDJSON splitting: arbitrary bytes',
      fc.tuple(bytes, cuts),
      async ([b, c]) => {
        try {
          await collect(cut(b, c));
        } catch (e) {
          check(e instanceof StreamError, () => `not a StreamError: ${String(e)}`);
        }
      },
      { timeLimitMs: 60_000 },
    );
  }, T);

  it('a listing cut at any byte: a typed error, or (cut exactly at a line end) a prefix of the values — never a wrong value', async () => {
    ledger.scenario();
    await fuzzAsync(
      ledger,
      'NDJSON splitting: truncation at any byte',
      fc.tuple(listing.filter((v) => v.length > 0), fc.nat(10_000), cuts),
      async ([values, at, c]) => {
        const lines = values.map((v) => JSON.stringify(v));
        const full = enc.encode(`${lines.join('\n')}\n`);
        const k = at % full.length; // strictly shorter than the full body
        // Byte offsets where line i's JSON ends (before its "\n") and where the next line starts.
        const ends: number[] = [];
        let pos = 0;
        for (const l of lines) {
          pos += enc.encode(l).length;
          ends.push(pos);
          pos += 1;
        }
        let result: unknown[] | undefined;
        let error: unknown;
        try {
          result = await collect(cut(full.subarray(0, k), c));
        } catch (e) {
          error = e;
        }
        if (error !== undefined) return check(error instanceof StreamError && error instanceof DlaasError, () => `not a StreamError: ${String(error)}`);
        // No error: the cut fell exactly at the end of a line (before or after its "\n"), or at 0.
        const complete = ends.filter((e) => e <= k).length;
        const atBoundary = k === 0 || ends.includes(k) || ends.includes(k - 1);
        check(atBoundary, () => `cut at byte ${k} (inside a line) was not detected`);
        const want = values.slice(0, complete).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
        check(result !== undefined && result.length === want.length && result.every((g, i) => sameJson(g, want[i])), () => `wrong values after a cut at ${k}`);
      },
      { timeLimitMs: 60_000 },
    );
  }, T);
});
