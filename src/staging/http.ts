/**
 * The bulk-bytes HTTP layer of storage access: one request, one response, a body read chunk by
 * chunk. Catalogue-sized requests go through the shared {@link Transport}; the bytes of files (GET
 * bodies, PUT bodies) go through a {@link StorageHttp}, so a runtime can plug in a transport fit for
 * bulk transfers (`dlaas/node` brings one on `node:http`) while the staging logic stays one.
 *
 * Cancellation never depends on the runtime linking a `Request`'s signal to its body: every
 * implementation rejects `send()` and `read()` as soon as the request's signal aborts.
 *
 * @module
 */
import { AbortError } from '../core/errors.js';

/** One request to storage. */
export interface StorageRequest {
  method: 'GET' | 'PUT';
  /** An `http:` or `https:` URL. */
  url: string;
  /** Every header to send (`Authorization` and `Range` included: the layer adds none of its own but `Content-Length`). */
  headers: Record<string, string>;
  /** PUT body: streamed, never buffered whole by the layer. */
  body?: Blob | Uint8Array | undefined;
  /** Aborts the request at any point: while the headers are awaited, while the body is sent or read. */
  signal: AbortSignal;
}

/** A response body, read chunk by chunk. */
export interface BodyReader {
  /** The next chunk, or `undefined` at the end. Rejects when the connection breaks or the request's signal aborts. */
  read(): Promise<Uint8Array | undefined>;
  /** Stop reading and release the connection (idempotent). */
  cancel(reason?: unknown): Promise<void>;
}

/** A response: status, headers, and the body (`null` when there is none). Redirects are not followed. */
export interface StorageResponse {
  status: number;
  headers: Headers;
  body: BodyReader | null;
}

/**
 * A bulk HTTP client for storage. Implementations must not follow redirects (the storage client
 * decides where credentials may go), must reject with the signal's reason (or an {@link AbortError})
 * promptly after an abort, and must stream PUT bodies.
 */
export interface StorageHttp {
  send(request: StorageRequest): Promise<StorageResponse>;
}

/** The signal's reason as an {@link AbortError} (or the reason itself when it is one). */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof AbortError ? r : new AbortError('the transfer was aborted', { cause: r });
}

/**
 * `promise`, or a rejection as soon as `signal` aborts (the promise keeps running: callers release
 * what it holds). Listeners are removed when either settles.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * A body reader over a WHATWG stream whose cancellation is tied to `signal` by the reader itself:
 * an abort cancels the stream and rejects a pending `read()` at once.
 */
export function streamBodyReader(stream: ReadableStream<Uint8Array>, signal: AbortSignal): BodyReader {
  const reader = stream.getReader();
  let cancelled = false;
  const cancel = async (reason?: unknown) => {
    if (cancelled) return;
    cancelled = true;
    signal.removeEventListener('abort', onAbort);
    await reader.cancel(reason).catch(() => {});
  };
  const onAbort = () => void cancel(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    async read() {
      if (signal.aborted) throw abortReason(signal);
      const { done, value } = await raceAbort(reader.read(), signal);
      if (done) {
        signal.removeEventListener('abort', onAbort);
        return undefined;
      }
      return value;
    },
    cancel,
  };
}

/**
 * The {@link StorageHttp} of every runtime: `fetch` with the signal in `init` (never a `Request`
 * object) and cancellation tied to the body reader. Browsers answer any redirect with an opaque
 * response (no `Location`): it is reported as status 0 so the storage client can refuse it rather
 * than let the browser follow it with the token.
 *
 * @example
 * ```ts
 * const http = fetchStorageHttp();
 * const res = await http.send({ method: 'GET', url, headers: { Range: 'bytes=0-1023' }, signal });
 * ```
 */
export function fetchStorageHttp(fetchImpl: typeof fetch = globalThis.fetch): StorageHttp {
  return {
    async send(req) {
      if (req.signal.aborted) throw abortReason(req.signal);
      const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers: req.headers, signal: req.signal, redirect: 'manual' };
      if (req.body !== undefined) init.body = req.body as BodyInit;
      const res = await raceAbort(fetchImpl(req.url, init), req.signal);
      const status = res.type === 'opaqueredirect' ? 0 : res.status;
      if (req.signal.aborted) {
        await res.body?.cancel().catch(() => {});
        throw abortReason(req.signal);
      }
      return { status, headers: res.headers, body: res.body ? streamBodyReader(res.body, req.signal) : null };
    },
  };
}
