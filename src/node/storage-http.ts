/**
 * A {@link StorageHttp} on `node:http` and `node:https`, for bulk bytes: keep-alive sockets, large
 * read buffers, and a body reader that costs one settled promise per chunk and nothing else (no
 * timers, no WHATWG stream in between). Runs under Deno and Bun through their Node compatibility.
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { InvalidArgumentError } from '../core/errors.js';
import { IDEMPOTENT } from '../core/transport.js';
import { abortReason, type BodyReader, type StorageHttp, type StorageRequest, type StorageResponse } from '../staging/http.js';

/** Options of {@link nodeStorageHttp}. */
export interface NodeStorageHttpOptions {
  /** Connections open at once to one origin (host and port); further requests wait for a free one. Default 32. */
  maxSockets?: number | undefined;
  /** Idle keep-alive connections kept per origin. Default: `maxSockets`. */
  maxFreeSockets?: number | undefined;
  /**
   * Bytes a response buffers before reading from its socket pauses (the socket's and the
   * response's `highWaterMark`; also the socket's write buffer for PUT bodies). Default 1 MiB.
   */
  highWaterMark?: number | undefined;
}

const MiB = 1024 * 1024;
/** Statuses whose response has no body (as in fetch). */
const NULL_BODY = new Set([204, 205, 304]);
/** Errors of a keep-alive socket the server closed while it sat idle: the request never reached it. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function count(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(name, `${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** Response headers as fetch builds them: every raw header appended, repeated ones joined with `, `. */
function toHeaders(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i] as string, raw[i + 1] as string);
    } catch {
      // A name or value fetch would refuse as well: dropped.
    }
  }
  return headers;
}

/**
 * @internal A request of {@link nodeHttpClient}: a {@link StorageRequest} with any method, and a body
 * that may also be a stream of unknown length (sent chunked, never buffered).
 */
export interface NodeHttpRequest extends Omit<StorageRequest, 'method' | 'body'> {
  method: string;
  body?: Blob | Uint8Array | ReadableStream<Uint8Array> | undefined;
}

/** @internal A response of {@link nodeHttpClient}: a {@link StorageResponse} with the status line's text. */
export interface NodeHttpResponse extends StorageResponse {
  statusText: string;
}

/** The request headers with our own `Content-Length` (the caller's, in any case, is replaced; a stream goes chunked). */
function requestHeaders(req: NodeHttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (name.toLowerCase() !== 'content-length') headers[name] = value;
  const { body } = req;
  const length = body === undefined ? (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH' ? 0 : undefined) : body instanceof Uint8Array ? body.byteLength : body instanceof Blob ? body.size : undefined;
  if (length !== undefined) headers['Content-Length'] = String(length);
  return headers;
}

/** Resolves once `cr` can take more bytes, or has closed. */
function drained(cr: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      cr.off('drain', done);
      cr.off('close', done);
      resolve();
    };
    cr.on('drain', done);
    cr.on('close', done);
  });
}

/**
 * Write `body` into `cr` chunk by chunk, waiting for `drain` whenever the socket's buffer is full,
 * and call `finish` as soon as the last byte is written (a Blob's `size`, or a stream's end). Stops
 * early when the request closes or `stop()` says so. Throws when the body cannot be read.
 */
async function pump(cr: ClientRequest, body: Blob | ReadableStream<Uint8Array>, stop: () => boolean, finish: () => void): Promise<void> {
  const size = body instanceof Blob ? body.size : Infinity;
  const reader = (body instanceof Blob ? body.stream() : body).getReader();
  let sent = 0;
  try {
    while (sent < size) {
      const next = await reader.read();
      if (cr.destroyed || stop()) return;
      if (next.done && size === Infinity) break;
      if (next.done || sent + next.value.byteLength > size) throw new Error(`the Blob did not yield its ${size} bytes`);
      sent += next.value.byteLength;
      if (!cr.write(next.value) && sent < size) await drained(cr);
    }
    finish();
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * A {@link BodyReader} over an `IncomingMessage` in flowing mode: `data` chunks go to the pending
 * `read()` or to a small queue; the response pauses when the queue holds `limit` bytes and resumes
 * once it is half empty. A body that ends short of its `Content-Length` (or chunked framing) is an
 * error, never a silent end.
 */
function responseBody(res: IncomingMessage, limit: number, settle: (error?: unknown) => void): BodyReader & { fail(error: unknown): void } {
  const queue: Buffer[] = [];
  let queued = 0;
  let paused = false;
  let state: 'open' | 'ended' | 'failed' | 'cancelled' = 'open';
  let error: unknown;
  let waiter: { resolve(chunk: Uint8Array | undefined): void; reject(e: unknown): void } | undefined;

  const fail = (e: unknown) => {
    if (state !== 'open') return;
    state = 'failed';
    error = e;
    queue.length = 0;
    queued = 0;
    settle(e);
    const w = waiter;
    waiter = undefined;
    w?.reject(e);
  };
  res.on('data', (chunk: Buffer) => {
    if (state !== 'open') return;
    const w = waiter;
    if (w) {
      waiter = undefined;
      w.resolve(chunk);
      return;
    }
    queue.push(chunk);
    queued += chunk.byteLength;
    if (!paused && queued >= limit) {
      paused = true;
      res.pause();
    }
  });
  res.on('end', () => {
    if (state !== 'open') return;
    if (!res.complete) return fail(new Error('the connection closed before the response body was complete'));
    state = 'ended';
    settle();
    const w = waiter;
    waiter = undefined;
    w?.resolve(undefined);
  });
  // Node reports a body cut short as an `error` ('aborted', ECONNRESET), then `close`; `close`
  // without `end` is caught too. Listeners stay on: a late error must never go unhandled.
  res.on('error', fail);
  res.on('close', () => fail(new Error('the connection closed before the response body was complete')));

  return {
    read() {
      if (queue.length > 0) {
        const chunk = queue.shift() as Buffer;
        queued -= chunk.byteLength;
        if (paused && queued <= limit / 2) {
          paused = false;
          res.resume();
        }
        return Promise.resolve(chunk);
      }
      if (state === 'failed') return Promise.reject(error);
      if (state !== 'open') return Promise.resolve(undefined);
      if (waiter) return Promise.reject(new Error('read() called while another read() is pending'));
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    async cancel() {
      if (state !== 'open') return;
      state = 'cancelled';
      queue.length = 0;
      queued = 0;
      settle(new Error('cancelled'));
      const w = waiter;
      waiter = undefined;
      w?.resolve(undefined);
    },
    fail,
  };
}

interface Exchange {
  url: URL;
  request: NodeHttpRequest;
  agent: HttpAgent;
  highWaterMark: number;
}

class StaleSocket extends Error {}

/** One request/response on one connection. Rejects with {@link StaleSocket} when a reused keep-alive socket was dead. */
function exchange({ url, request: req, agent, highWaterMark }: Exchange): Promise<NodeHttpResponse> {
  const { signal, body } = req;
  return new Promise<NodeHttpResponse>((resolve, reject) => {
    const options: RequestOptions & { highWaterMark: number } = { method: req.method, headers: requestHeaders(req), agent, highWaterMark };
    const cr = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options);
    let res: IncomingMessage | undefined;
    let reader: ReturnType<typeof responseBody> | undefined;
    let uploaded = body === undefined || body instanceof Uint8Array;
    let stopUpload = false;
    let settled = false;

    /** The exchange is over: drop the abort listener; on failure (or an upload cut short) close the connection. */
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error !== undefined || !uploaded) {
        cr.destroy();
        res?.destroy();
      }
    };
    const failBeforeResponse = (e: unknown) => {
      if (settled) return;
      const code = (e as { code?: unknown } | null)?.code;
      const stale = cr.reusedSocket && typeof code === 'string' && STALE_SOCKET.has(code) && !signal.aborted;
      settle(e);
      reject(stale ? new StaleSocket('stale keep-alive socket', { cause: e }) : e);
    };
    const onAbort = () => {
      const reason = abortReason(signal);
      if (reader) reader.fail(reason);
      else if (res) settle(reason);
      else failBeforeResponse(reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });

    cr.on('error', (e) => {
      if (reader) reader.fail(e);
      else failBeforeResponse(e);
    });
    cr.on('response', (response) => {
      res = response;
      if (settled) {
        response.destroy();
        return;
      }
      const status = response.statusCode ?? 0;
      // The server answered before the whole body was sent: an error status means the rest is unwanted.
      if (!uploaded && status >= 400) stopUpload = true;
      const headers = toHeaders(response.rawHeaders);
      const statusText = response.statusMessage ?? '';
      if (NULL_BODY.has(status) || req.method === 'HEAD') {
        response.on('error', (e) => settle(e));
        response.on('close', () => settle(response.complete ? undefined : new Error('closed')));
        response.on('end', () => settle());
        response.resume();
        resolve({ status, statusText, headers, body: null });
        return;
      }
      reader = responseBody(response, highWaterMark, settle);
      resolve({ status, statusText, headers, body: { read: reader.read, cancel: reader.cancel } });
    });

    if (body === undefined) cr.end();
    else if (body instanceof Uint8Array) cr.end(body);
    else {
      const finish = () => {
        uploaded = true;
        cr.end();
      };
      pump(cr, body, () => stopUpload || settled, finish).catch(
        (e: unknown) => {
          if (reader) reader.fail(e);
          else failBeforeResponse(e);
        },
      );
    }
  });
}

/**
 * A {@link StorageHttp} on `node:http`/`node:https` for bulk transfers: keep-alive connections
 * (at most `maxSockets` per origin), 1 MiB read buffers, and a body reader without per-chunk timers
 * or streams in between — staging reads GiB files, many at once and in parallel Range segments, at
 * wire speed. PUT bodies are streamed (a `Blob` from `fs.openAsBlob` is read from disk as it is
 * sent). Redirects are returned as they are; TLS trusts Node's default certificates. A body cut
 * short of its `Content-Length` makes `read()` reject. Works in Node, Deno and Bun.
 *
 * `close()` closes every connection, in-flight ones too (idle keep-alive connections never keep the
 * process alive, so a program that just ends need not call it).
 *
 * @example
 * ```ts
 * import { nodeStorageHttp } from 'dlaas/node';
 * const http = nodeStorageHttp({ maxSockets: 16 });
 * const res = await http.send({ method: 'GET', url, headers: { Authorization: `Bearer ${token}` }, signal });
 * for (let chunk = await res.body?.read(); chunk; chunk = await res.body?.read()) hash.update(chunk);
 * ```
 */
export function nodeStorageHttp(options: NodeStorageHttpOptions = {}): StorageHttp & { close(): void } {
  return nodeHttpClient(options);
}

/**
 * @internal {@link nodeStorageHttp} for any method and for stream bodies (the HTTP client under
 * {@link nodeFetch}). A request whose keep-alive socket turns out to have been closed by the server
 * is sent once more on a live one when its method is idempotent (as fetch would: whether a POST
 * reached the server is unknown, and the caller decides about sending it again) and its body was
 * not a stream (which cannot be sent again).
 */
export function nodeHttpClient(options: NodeStorageHttpOptions = {}): { send(request: NodeHttpRequest): Promise<NodeHttpResponse>; close(): void } {
  const maxSockets = count('maxSockets', options.maxSockets, 32);
  const maxFreeSockets = count('maxFreeSockets', options.maxFreeSockets, maxSockets);
  const highWaterMark = count('highWaterMark', options.highWaterMark, MiB);
  const agentOptions = { keepAlive: true, maxSockets, maxFreeSockets, scheduling: 'lifo' as const };
  const agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
  return {
    async send(req) {
      if (req.signal.aborted) throw abortReason(req.signal);
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        throw new InvalidArgumentError('url', 'not a valid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('url', `${url.protocol} URLs are not supported (http: or https: only)`);
      const ex: Exchange = { url, request: req, agent: url.protocol === 'https:' ? agents.https : agents.http, highWaterMark };
      try {
        return await exchange(ex);
      } catch (e) {
        // A keep-alive socket the server had closed: once more, on a socket that is alive.
        if (!(e instanceof StaleSocket)) throw e;
        if (req.body instanceof ReadableStream || !IDEMPOTENT.has(req.method)) throw e.cause;
        try {
          return await exchange(ex);
        } catch (again) {
          throw again instanceof StaleSocket ? again.cause : again;
        }
      }
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
