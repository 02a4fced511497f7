import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AbortError, ErrorCode, ResponseTooLargeError, StreamError, parseNdjson } from '../../src/index.js';

const enc = new TextEncoder();

/** A body made of the given byte chunks, tracking cancellation. */
function body(chunks: Uint8Array[]) {
  const state = { cancelled: false, served: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks[state.served++];
      if (next) c.enqueue(next);
      else c.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** Split bytes at the given cut points. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(bytes.slice(prev, p));
    prev = p;
  }
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('parseNdjson', () => {
  it('yields nothing for an empty body, a null body and whitespace', async () => {
    expect(await collect(parseNdjson(body([]).stream))).toEqual([]);
    expect(await collect(parseNdjson(null))).toEqual([]);
    expect(await collect(parseNdjson(new Response('')))).toEqual([]);
    expect(await collect(parseNdjson(body([enc.encode('\n\n')]).stream))).toEqual([]);
  });

  it('parses objects, bare JSON strings and a final line without newline', async () => {
    const text = '{"rse": "SITE_A"}\n"file1"\n"file2"\n{"rse": "SITE_B"}';
    expect(await collect(parseNdjson(new Response(text)))).toEqual([{ rse: 'SITE_A' }, 'file1', 'file2', { rse: 'SITE_B' }]);
  });

  it('is correct across every chunking, including UTF-8 characters split between chunks', async () => {
    const values = [{ name: 'Ωmega-✓-😀', n: 1 }, 'naïve/日本', { deep: { a: [1, 2, { b: 'ü' }] } }];
    const bytes = enc.encode(values.map((v) => JSON.stringify(v)).join('\n') + '\n');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(bytes.length), { maxLength: 12 }), async (cuts) => {
        expect(await collect(parseNdjson(body(cut(bytes, cuts)).stream))).toEqual(values);
      }),
      { numRuns: 500 },
    );
    // Every single split point inside the 4-byte emoji.
    const emoji = enc.encode('"😀"\n');
    for (let i = 1; i < emoji.length; i++) {
      expect(await collect(parseNdjson(body([emoji.slice(0, i), emoji.slice(i)]).stream))).toEqual(['😀']);
    }
  });

  it('drops a BOM at the start of the body only, and accepts CRLF line ends', async () => {
    const bytes = enc.encode('\uFEFF{"a": 1}\r\n{"a": 2}\r\n');
    for (let i = 0; i <= bytes.length; i++) {
      expect(await collect(parseNdjson(body([bytes.slice(0, i), bytes.slice(i)].filter((c) => c.length > 0)).stream))).toEqual([{ a: 1 }, { a: 2 }]);
    }
    const err = await collect(parseNdjson(new Response('{"a": 1}\n\uFEFF{"a": 2}\n'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).line).toBe(2);
  });

  it('joins a line spread over many chunks', async () => {
    const line = enc.encode(`${JSON.stringify({ name: 'x'.repeat(5000), n: 'é' })}\n"next"\n`);
    const chunks = Array.from({ length: Math.ceil(line.length / 7) }, (_, i) => line.slice(i * 7, i * 7 + 7));
    expect(await collect(parseNdjson(body(chunks).stream))).toEqual([{ name: 'x'.repeat(5000), n: 'é' }, 'next']);
  });

  it('reports a stream that ends inside a JSON value as truncated, with the line number', async () => {
    const err = await collect(parseNdjson(new Response('{"a": 1}\n{"a": 2}\n{"a": 3, "b"'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).line).toBe(3);
    expect((err as StreamError).code).toBe(ErrorCode.stream);
    expect((err as Error).message).toMatch(/truncated/);
  });

  it('reports a line that is not JSON with its number and endpoint, after yielding the good lines', async () => {
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const v of parseNdjson(new Response('1\n2\n<html>oops</html>\n4\n'), { endpoint: 'GET /rses/' })) got.push(v);
    })().catch((e: unknown) => e);
    expect(got).toEqual([1, 2]);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).line).toBe(3);
    expect((err as Error).message).toContain('GET /rses/');
  });

  it('reports invalid UTF-8 as a StreamError', async () => {
    const err = await collect(parseNdjson(body([new Uint8Array([0x22, 0xff, 0x22, 0x0a])]).stream)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
  });

  it('refuses a line over maxLineBytes (counted in bytes) after the lines before it, in any chunking', async () => {
    // 4 bytes, 14 bytes, exactly 16 bytes (9 characters), then 18 bytes in only 10 characters.
    const good = ['"ok"', '{"n":"ééé"}', '"ééééééé"'];
    const over = '"éééééééé"';
    for (const tail of ['\n"after"\n', '']) {
      const bytes = enc.encode([...good, over].join('\n') + tail);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat(bytes.length), { maxLength: 12 }), async (cuts) => {
          const { stream, state } = body(cut(bytes, cuts));
          const seen: unknown[] = [];
          const err = await (async () => {
            for await (const v of parseNdjson(stream, { maxLineBytes: 16, endpoint: 'GET /x', request: { service: 'rucio', method: 'GET', url: 'https://rucio.test/x?token=abc' } })) seen.push(v);
          })().catch((e: unknown) => e);
          expect(seen).toEqual(good.map((g) => JSON.parse(g) as unknown));
          expect(err).toBeInstanceOf(ResponseTooLargeError);
          expect(err).toMatchObject({ code: ErrorCode.responseTooLarge, limit: 'maxLineBytes', maxBytes: 16, line: 4, host: 'rucio.test', endpoint: 'GET /x' });
          expect((err as Error).message).toBe('GET /x from rucio.test: NDJSON line 4 is larger than limits.maxLineBytes (16 bytes, decoded); reading stopped. If the server legitimately sends more, raise `limits: { maxLineBytes }` in the client options');
          expect(state.cancelled || state.served >= cut(bytes, cuts).length).toBe(true);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('applies map() and wraps its failures with the line number', async () => {
    const out = await collect(parseNdjson(new Response('1\n2\n'), { map: (v) => (v as number) * 10 }));
    expect(out).toEqual([10, 20]);
    const err = await collect(
      parseNdjson(new Response('1\n"x"\n'), {
        map: (v) => {
          if (typeof v !== 'number') throw new Error('not a number');
          return v;
        },
      }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).line).toBe(2);
  });

  it('cancels the body and calls onCancel when the consumer breaks early', async () => {
    const chunks = Array.from({ length: 1000 }, (_, i) => enc.encode(`{"i": ${i}}\n`));
    const { stream, state } = body(chunks);
    let onCancel = 0;
    for await (const v of parseNdjson(stream, { onCancel: () => onCancel++ })) {
      if ((v as { i: number }).i === 2) break;
    }
    await new Promise((r) => setTimeout(r, 10));
    expect(state.cancelled).toBe(true);
    expect(onCancel).toBe(1);
    expect(state.served).toBeLessThan(10);
  });

  it('stops on abort with AbortError', async () => {
    const c = new AbortController();
    const chunks = Array.from({ length: 100 }, (_, i) => enc.encode(`${i}\n`));
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const v of parseNdjson(body(chunks).stream, { signal: c.signal })) {
        seen.push(v);
        if (seen.length === 3) c.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(seen.length).toBeLessThan(10);
  });

  it('times out a stalled stream', async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode('1\n'));
      },
    });
    const err = await collect(parseNdjson(stalled, { idleTimeoutMs: 50 })).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe(ErrorCode.timeout);
  });

  it('keeps memory flat over a long stream', async () => {
    const line = enc.encode(`${JSON.stringify({ scope: 'test', name: 'x'.repeat(100), bytes: 1 })}\n`);
    let n = 0;
    const total = 200_000;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n >= total) return c.close();
        const batch = new Uint8Array(line.length * 100);
        for (let i = 0; i < 100; i++) batch.set(line, i * line.length);
        n += 100;
        c.enqueue(batch);
      },
    });
    let count = 0;
    let maxHeap = 0;
    const before = process.memoryUsage().heapUsed;
    for await (const _ of parseNdjson(stream)) {
      count++;
      if (count % 20_000 === 0) maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    }
    expect(count).toBe(total);
    // ~30 MB of NDJSON went through; the parser must not have kept it.
    expect(maxHeap - before).toBeLessThan(25 * 1024 * 1024);
  });
});
