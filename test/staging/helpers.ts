/**
 * Test plumbing for staging: fetch wrappers that record, cut or alter storage traffic, seeding of
 * catalogue files onto storage, and small file-system helpers.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lfn2pathHash } from '../../src/rucio/lfn2pfn.js';

/** One request a {@link TrafficRecorder} saw. */
export interface SeenRequest {
  method: string;
  url: string;
  range: string | null;
  destination: string | null;
  status?: number;
}

/** What a {@link trafficFetch} does to one request (decided per request). */
export interface Tamper {
  /** Cut the response body after this many bytes (the reader gets an error, like a dropped connection). */
  cutAfter?: number;
  /** Drop the request's `Range` header (a server that ignores ranges). */
  dropRange?: boolean;
  /** Replace the request's bearer token. */
  bearer?: string;
  /** After this many body bytes, call `onPause` once the reader asks for more, then stall for good (the reader must cancel). */
  pauseAfter?: number;
  onPause?: () => void;
}

/** A `fetch` that records every request, counts requests in flight and can tamper with them. */
export interface TrafficFetch {
  fetch: typeof fetch;
  seen: SeenRequest[];
  /** Highest number of responses whose body was being read at the same time. */
  readonly maxInFlight: number;
  /** Decide what to do with a request (default: nothing). */
  tamper: (req: SeenRequest, index: number) => Tamper | undefined;
}

/** Wrap `inner` (default the global fetch) into a {@link TrafficFetch}. */
export function trafficFetch(inner: typeof fetch = globalThis.fetch): TrafficFetch {
  let inFlight = 0;
  const t: TrafficFetch = {
    seen: [],
    maxInFlight: 0,
    tamper: () => undefined,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const seen: SeenRequest = { method: request.method, url: request.url, range: request.headers.get('range'), destination: request.headers.get('destination') };
      const plan = t.tamper(seen, t.seen.length) ?? {};
      t.seen.push(seen);
      const headers = new Headers(request.headers);
      if (plan.dropRange) headers.delete('range');
      if (plan.bearer) headers.set('authorization', `Bearer ${plan.bearer}`);
      const body = request.body ? await request.arrayBuffer() : undefined;
      inFlight++;
      (t as { maxInFlight: number }).maxInFlight = Math.max(t.maxInFlight, inFlight);
      let res: Response;
      try {
        res = await inner(request.url, { method: request.method, headers, ...(body ? { body } : {}), signal: request.signal, redirect: 'manual' });
      } catch (e) {
        inFlight--;
        throw e;
      }
      seen.status = res.status;
      if (!res.body) {
        inFlight--;
        return res;
      }
      return new Response(track(res.body, plan, () => inFlight--), { status: res.status, statusText: res.statusText, headers: res.headers });
    },
  };
  return t;
}

/**
 * Pass a body through, failing after `plan.cutAfter` bytes or stalling for good after
 * `plan.pauseAfter`; `done` runs once when the body ends in any way.
 */
function track(body: ReadableStream<Uint8Array>, plan: Tamper, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = 0;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  const limit = plan.cutAfter ?? plan.pauseAfter;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (plan.pauseAfter !== undefined && sent >= plan.pauseAfter) {
        plan.onPause?.();
        // Stall for good: like a real server that goes silent, this body ignores aborts. Only the
        // SDK cancelling its own reader (cancel() below) ends it.
        await new Promise<never>(() => {});
        return;
      }
      const { done: end, value } = await reader.read();
      if (end) {
        finish();
        controller.close();
        return;
      }
      if (limit !== undefined && sent + value.byteLength > limit) {
        const keep = limit - sent;
        if (keep > 0) controller.enqueue(value.subarray(0, keep));
        sent = limit;
        if (plan.cutAfter !== undefined) {
          await reader.cancel().catch(() => {});
          finish();
          controller.error(new TypeError('terminated', { cause: new Error('other side closed') }));
        }
        return;
      }
      sent += value.byteLength;
      controller.enqueue(value);
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
  });
}

/** Route requests by origin: `routes[origin]` or, for any other origin, `fallback`. */
export function routeFetch(routes: Record<string, typeof fetch>, fallback: typeof fetch = globalThis.fetch): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    return (routes[url.origin] ?? fallback)(input, init);
  };
}

/** Deterministic pseudo-random bytes. */
export function noise(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) b[i] = (x = (x * 1664525 + 1013904223) >>> 0) >>> 24;
  return b;
}

/** The storage path of a file on a deterministic (`hash`) RSE with `prefix`. */
export async function storagePath(prefix: string, scope: string, name: string): Promise<string> {
  return `${prefix.replace(/\/+$/, '')}/${await lfn2pathHash({ scope, name })}`;
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(tag: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `dlaas-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under `dir`, relative, sorted. */
export function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}
