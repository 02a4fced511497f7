/**
 * Response size limits and strict UTF-8, against a real node:http server on 127.0.0.1 (fetch decodes
 * `Content-Encoding: gzip` itself, so the limits must count decoded bytes as they stream). Payloads are
 * generated chunk by chunk (one reused 1 MiB buffer); memory growth of this process is sampled while the
 * client reads and must stay far below the payload size.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EsapClient, ErrorCode, ResponseTooLargeError, ResponseValidationError, RucioClient, StreamError, parseDid } from '../../src/index.js';

const MiB = 1024 * 1024;
const TOKEN = 'secret-token-abcdef-123456';

let server: Server;
let base = '';
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
/** Bytes the server wrote for the current response, and whether the client hung up before the end. */
const sent = { bytes: 0, aborted: false };

/** `head`, then `fill` bytes of `byte`, then `tail`, in 1 MiB pieces of one reused buffer. */
function* payload(head: string, fill: number, byte: string, tail: string): Generator<Buffer> {
  yield Buffer.from(head);
  const piece = Buffer.alloc(MiB, byte);
  for (let left = fill; left > 0; left -= MiB) yield left >= MiB ? piece : piece.subarray(0, left);
  yield Buffer.from(tail);
}

/** Write the pieces with backpressure; stop when the client goes away. */
async function pump(res: ServerResponse, pieces: Iterable<Buffer>): Promise<void> {
  sent.bytes = 0;
  sent.aborted = false;
  const closed = once(res, 'close').then(() => (sent.aborted = !res.writableFinished));
  for (const piece of pieces) {
    if (res.destroyed) return;
    sent.bytes += piece.length;
    if (!res.write(piece)) await Promise.race([once(res, 'drain'), closed]);
  }
  res.end();
}

/** The gzip of the pieces, compressed once, as a stream (only the compressed bytes are ever held). */
async function gzipOf(pieces: Iterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), createGzip({ level: 9 }), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

// A full GC before each baseline, so that one test's garbage does not hide the next one's growth.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// The peak RSS (process-wide, in KiB) is sampled every millisecond by a worker thread: a read that
// resolves chunk after chunk in microtasks starves this thread's timers, never the worker's.
const peakRssKiB = new Int32Array(new SharedArrayBuffer(4));
const sampler = new Worker(
  `const a = new Int32Array(require('node:worker_threads').workerData);
   setInterval(() => { const kib = Math.round(process.memoryUsage.rss() / 1024); if (kib > Atomics.load(a, 0)) Atomics.store(a, 0, kib); }, 1);`,
  { eval: true, workerData: peakRssKiB.buffer },
);
sampler.unref();

/**
 * Run `read` and report memory growth over the value before (after a full GC): peak RSS (sampled by the
 * worker; memory freed by an earlier test is reused without growing RSS, so this under-reports after a
 * bigger test), and the peaks of `arrayBuffers`, `heapUsed` and their sum (`js`) on this thread, which
 * a GC brings back down between tests.
 */
async function measured(read: () => Promise<unknown>): Promise<{ error: unknown; rssGrowth: number; jsGrowth: number; arrayBuffersGrowth: number; heapGrowth: number }> {
  gc();
  const before = process.memoryUsage();
  Atomics.store(peakRssKiB, 0, 0);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const peak = { rss: 0, js: 0, ab: 0, heap: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss - before.rss, Atomics.load(peakRssKiB, 0) * 1024 - before.rss);
    peak.js = Math.max(peak.js, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
    peak.ab = Math.max(peak.ab, m.arrayBuffers - before.arrayBuffers);
    peak.heap = Math.max(peak.heap, m.heapUsed - before.heapUsed);
  };
  const timer = setInterval(sample, 2);
  let error: unknown;
  try {
    await read();
  } catch (e) {
    error = e;
  } finally {
    clearInterval(timer);
    sample();
  }
  return { error, rssGrowth: peak.rss, jsGrowth: peak.js, arrayBuffersGrowth: peak.ab, heapGrowth: peak.heap };
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
const figures = (m: Awaited<ReturnType<typeof measured>>) =>
  `rss +${mib(m.rssGrowth)}, heap+arrayBuffers +${mib(m.jsGrowth)} (arrayBuffers +${mib(m.arrayBuffersGrowth)}, heap +${mib(m.heapGrowth)})`;

/** A valid `GET /dids/{scope}/{name}` answer padded with 400 MiB of whitespace, gzipped once (≈400 KiB). */
const BOMB_FILL = 400 * MiB;
let bombOnce: Promise<Buffer> | undefined;
const bomb = () => (bombOnce ??= gzipOf(payload('{"scope": "user.jdoe", "name": "f1", "type": "FILE"', BOMB_FILL, ' ', '}')));
const serveBomb = (body: Buffer) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': String(body.length) });
  res.end(body);
};

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await sampler.terminate();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('response size limits (real HTTP on 127.0.0.1)', () => {
  it('a gzip bomb (≈400 KiB inflating to 400 MiB) stops at the limit counted in decoded bytes, with bounded memory', async () => {
    const gz = await bomb();
    handler = serveBomb(gz);
    const rucio = new RucioClient({ baseUrl: base, token: TOKEN, limits: { maxBodyBytes: 8 * MiB } });
    const m = await measured(() => rucio.dids.get(parseDid('user.jdoe:f1')));
    console.log(`gzip bomb ${mib(gz.length)} → ${mib(BOMB_FILL)}, limit 8 MiB: ${figures(m)}`);
    const err = m.error as ResponseTooLargeError;
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect(err).toMatchObject({ code: ErrorCode.responseTooLarge, limit: 'maxBodyBytes', maxBytes: 8 * MiB, host: new URL(base).host });
    expect(err.message).toContain(`from ${new URL(base).host}: the response body is larger than limits.maxBodyBytes (8 MiB, decoded)`);
    expect(err.message).toContain('raise `limits: { maxBodyBytes }` in the client options');
    expect(err.message).not.toContain(TOKEN);
    expect(gz.length).toBeLessThan(MiB);
    // Inflating stops at the limit: growth is a few times 8 MiB, not 400 MiB (unbounded: +400 MiB of text at least).
    expect(m.rssGrowth).toBeLessThan(64 * MiB);
    expect(m.jsGrowth).toBeLessThan(64 * MiB);
  });

  it('the default body limit applies to a gzip bomb too, and ESAP reads are bounded by its own limits option', async () => {
    handler = serveBomb(await bomb());
    const rucio = new RucioClient({ baseUrl: base, token: TOKEN });
    const m = await measured(() => rucio.dids.get(parseDid('user.jdoe:f1')));
    console.log(`gzip bomb ${mib(BOMB_FILL)}, default limit (64 MiB): ${figures(m)}`);
    expect(m.error).toBeInstanceOf(ResponseTooLargeError);
    expect(m.error).toMatchObject({ limit: 'maxBodyBytes', maxBytes: 64 * MiB });
    // 64 MiB of text, plus the inflated chunks until GC: well under the 400 MiB the bomb inflates to.
    expect(m.rssGrowth).toBeLessThan(240 * MiB);
    expect(m.jsGrowth).toBeLessThan(200 * MiB);

    const esap = new EsapClient({ baseUrl: base, token: TOKEN, limits: { maxBodyBytes: MiB } });
    const e = await esap.basket.get().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResponseTooLargeError);
    expect(e).toMatchObject({ limit: 'maxBodyBytes', maxBytes: MiB, endpoint: 'GET /accounts/user-profiles/' });
  });

  it('an NDJSON line of 256 MiB stops at limits.maxLineBytes (16 MiB by default), with bounded memory', async () => {
    const LINE = 256 * MiB;
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-json-stream' });
      void pump(res, payload('{"scope": "user.jdoe", "name": "f1", "type": "FILE"}\n{"scope": "user.jdoe", "type": "FILE", "name": "', LINE, 'a', '"}\n'));
    };
    const rucio = new RucioClient({ baseUrl: base, token: TOKEN });
    const seen: string[] = [];
    const m = await measured(async () => {
      for await (const e of rucio.dids.content(parseDid('user.jdoe:ds'))) seen.push(e.name);
    });
    console.log(`NDJSON ${mib(LINE)} line, limit 16 MiB: ${figures(m)}; server sent ${mib(sent.bytes)}`);
    expect(seen).toEqual(['f1']);
    const err = m.error as ResponseTooLargeError;
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect(err).toMatchObject({ code: ErrorCode.responseTooLarge, limit: 'maxLineBytes', maxBytes: 16 * MiB, host: new URL(base).host, line: 2 });
    expect(err.message).toContain('limits.maxLineBytes (16 MiB');
    expect(err.message).toContain(`from ${new URL(base).host}`);
    expect(err.message).toContain('raise `limits: { maxLineBytes }` in the client options');
    expect(err.message).not.toContain(TOKEN);
    // Bounded by the limit (the line's bytes up to 16 MiB, the chunks they were copied from until GC),
    // not by the payload: unbounded, the line alone is 256 MiB of bytes, once more joined, then a string.
    expect(m.jsGrowth).toBeLessThan(96 * MiB);
    expect(m.rssGrowth).toBeLessThan(128 * MiB);
    expect(sent.bytes).toBeLessThan(LINE / 4);
  });

  it('a 400 MiB JSON body stops at limits.maxBodyBytes (64 MiB by default), with bounded memory', async () => {
    const FILL = 400 * MiB;
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      void pump(res, payload('{"scope": "user.jdoe", "name": "f1", "type": "FILE"', FILL, ' ', '}'));
    };
    const rucio = new RucioClient({ baseUrl: base, token: TOKEN });
    const m = await measured(() => rucio.dids.get(parseDid('user.jdoe:f1')));
    console.log(`JSON ${mib(FILL)} body, limit 64 MiB: ${figures(m)}; server sent ${mib(sent.bytes)}`);
    const err = m.error as ResponseTooLargeError;
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect(err).toMatchObject({ code: ErrorCode.responseTooLarge, limit: 'maxBodyBytes', maxBytes: 64 * MiB, host: new URL(base).host, endpoint: 'GET /dids/user.jdoe/f1' });
    expect(err.message).toContain('limits.maxBodyBytes (64 MiB');
    expect(err.message).toContain('raise `limits: { maxBodyBytes }` in the client options');
    // The text read up to the limit (64 MiB) plus GC lag; unbounded, the whole 400 MiB string.
    expect(m.rssGrowth).toBeLessThan(200 * MiB);
    expect(m.jsGrowth).toBeLessThan(200 * MiB);
    expect(sent.bytes).toBeLessThan(FILL / 4);
  });
});

describe('the limits option', () => {
  it('takes positive byte counts or Infinity, and refuses anything else naming the option', async () => {
    for (const bad of [0, -1, Number.NaN, '1024' as unknown as number]) {
      expect(() => new RucioClient({ baseUrl: base, limits: { maxBodyBytes: bad } })).toThrow(expect.objectContaining({ code: ErrorCode.invalidArgument, argument: 'limits.maxBodyBytes' }));
      expect(() => new EsapClient({ baseUrl: base, limits: { maxLineBytes: bad } })).toThrow(/limits\.maxLineBytes must be a positive number/);
    }
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"scope": "user.jdoe", "name": "f1", "type": "FILE"}');
    const exact = new RucioClient({ baseUrl: base, limits: { maxBodyBytes: 52 } });
    expect((await exact.dids.get(parseDid('user.jdoe:f1'))).name).toBe('f1');
    const under = new RucioClient({ baseUrl: base, limits: { maxBodyBytes: 51 } });
    await expect(under.dids.get(parseDid('user.jdoe:f1'))).rejects.toMatchObject({ code: ErrorCode.responseTooLarge, maxBytes: 51 });
    const lifted = new RucioClient({ baseUrl: base, limits: { maxBodyBytes: Number.POSITIVE_INFINITY } });
    expect((await lifted.dids.get(parseDid('user.jdoe:f1'))).name).toBe('f1');
  });
});

describe('invalid UTF-8 from the server (real HTTP on 127.0.0.1)', () => {
  const name = (bytes: number[]) => Buffer.concat([Buffer.from('{"scope": "user.jdoe", "name": "f'), Buffer.from(bytes), Buffer.from('.root", "type": "FILE"}')]);

  it('a DID name with invalid bytes in a JSON body is a ResponseValidationError, not U+FFFD', async () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(name(bad));
      const rucio = new RucioClient({ baseUrl: base, token: TOKEN });
      const err = await rucio.dids.get(parseDid('user.jdoe:f1')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResponseValidationError);
      expect(err).toMatchObject({ code: ErrorCode.responseValidation, endpoint: 'GET /dids/user.jdoe/f1' });
      expect((err as Error).message).toContain('is not valid UTF-8');
    }
    // Valid multi-byte UTF-8 (and a real U+FFFD sent as such) still reads.
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(name([0xc3, 0xa9]));
    expect((await new RucioClient({ baseUrl: base }).dids.get(parseDid('user.jdoe:f1'))).name).toBe('fé.root');
  });

  it('a DID name with invalid bytes in an NDJSON listing is a StreamError', async () => {
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/x-json-stream' }).end(Buffer.concat([Buffer.from('{"scope": "user.jdoe", "name": "ok", "type": "FILE"}\n'), name([0xff]), Buffer.from('\n')]));
    const rucio = new RucioClient({ baseUrl: base, token: TOKEN });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const e of rucio.dids.content(parseDid('user.jdoe:ds'))) seen.push(e.name);
    })().catch((e: unknown) => e);
    // Each line is decoded on its own: the good line before the bad one is delivered.
    expect(seen).toEqual(['ok']);
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ code: ErrorCode.stream, line: 2 });
    expect((err as Error).message).toContain('not valid UTF-8');
  });

  it('an ESAP profile body with invalid bytes is a ResponseValidationError', async () => {
    handler = (_req, res) =>
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(Buffer.concat([Buffer.from('{"count": 1, "results": [{"user_name": "j'), Buffer.from([0xff]), Buffer.from('", "shopping_cart": []}]}')]));
    const esap = new EsapClient({ baseUrl: base, token: TOKEN });
    const err = await esap.basket.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseValidationError);
    expect((err as Error).message).toContain('is not valid UTF-8');
  });
});
