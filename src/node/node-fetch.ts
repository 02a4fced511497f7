/**
 * @internal A `fetch` on `node:http` and `node:https`, for the catalogue requests of short-lived
 * Node processes (the `dlaas` CLI).
 *
 * Node's own `fetch` (undici) parses HTTP with a WebAssembly build of llhttp. After a few responses
 * V8 recompiles that parser with its optimising compiler in the background, and a process that then
 * ends waits for the compilation: about 60–70 ms added to a `dlaas whoami` (two responses), as much
 * as the whole rest of the CLI. `node:http` parses with the native llhttp, so nothing is compiled.
 *
 * What it keeps of fetch: the `Request`/`Response` objects (the caller sees a standard `Response`,
 * with `url` and `redirected`), redirects as `redirect` says (`follow`: at most 20, 301/302 POST and
 * 303 become GET without body, `Authorization` dropped on a cross-origin hop; `manual`: the 3xx as it
 * came; `error`: a network error), `Content-Encoding` gzip and deflate decoded (and asked for),
 * rejection with the signal's reason on abort, before or after the headers, and `TypeError: fetch
 * failed` with the system error as `cause` for a network failure (and for the ports fetch refuses).
 * A request body up to 1 MiB is sent with a `Content-Length`; a longer stream goes chunked, without
 * being buffered.
 *
 * @module
 */
import { concatBytes } from '../core/ndjson.js';
import { nodeHttpClient, type NodeHttpResponse, type NodeStorageHttpOptions } from './storage-http.js';

/** Bodies up to this size are read whole and sent with a `Content-Length`; longer ones stream. */
const WHOLE_BODY = 1024 * 1024;
const REDIRECT = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;
/** Headers that go with the body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];

/** The Fetch standard's blocked ports ("bad port"): fetch refuses them, so this does too. */
const BAD_PORTS = new Set([1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

/** A network error as fetch reports one. */
const failed = (cause: unknown) => new TypeError('fetch failed', { cause });

/**
 * @internal A `fetch` over `node:http`/`node:https` (see the module's description). `close()`
 * closes its connections; idle keep-alive connections never keep the process alive.
 *
 * @example
 * ```ts
 * const rucio = new RucioClient({ baseUrl, token, fetch: nodeFetch() });
 * ```
 */
export function nodeFetch(options: NodeStorageHttpOptions = {}): typeof fetch & { close(): void } {
  const http = nodeHttpClient({ highWaterMark: 64 * 1024, ...options });
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request && (init === undefined || Object.keys(init).length === 0) ? input : new Request(input, init);
    const { signal } = request;
    if (signal.aborted) throw signal.reason;
    let url = new URL(request.url);
    let method = request.method;
    const headers: Record<string, string> = Object.fromEntries(request.headers);
    headers.accept ??= '*/*';
    headers['accept-encoding'] ??= 'gzip, deflate';
    let body = await requestBody(request);
    for (let hop = 0; ; hop++) {
      if (url.port && BAD_PORTS.has(Number(url.port))) throw failed(new Error('bad port'));
      let res: NodeHttpResponse;
      try {
        res = await http.send({ method, url: url.href, headers, body, signal });
      } catch (error) {
        throw signal.aborted ? signal.reason : failed(error);
      }
      const location = REDIRECT.has(res.status) ? res.headers.get('location') : null;
      if (location === null || request.redirect === 'manual') return toResponse(res, url, hop > 0, signal);
      await res.body?.cancel();
      if (request.redirect === 'error') throw failed(new Error(`redirect ${res.status} with redirect: 'error'`));
      if (hop >= MAX_REDIRECTS) throw failed(new Error('too many redirects'));
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (cause) {
        throw failed(cause);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw failed(new Error(`redirect to ${next.protocol} URL`));
      if (((res.status === 301 || res.status === 302) && method === 'POST') || (res.status === 303 && method !== 'GET' && method !== 'HEAD')) {
        method = 'GET';
        body = undefined;
        for (const name of BODY_HEADERS) delete headers[name];
      } else if (body instanceof ReadableStream) {
        throw failed(new Error(`redirect ${res.status} of a request with a stream body (it cannot be sent again)`));
      }
      if (next.origin !== url.origin) delete headers.authorization;
      url = next;
    }
  };
  return Object.assign(fetchImpl, { close: () => http.close() });
}

/** The request's body: its bytes when they are at most {@link WHOLE_BODY}, else a stream of them all. */
async function requestBody(request: Request): Promise<Uint8Array | ReadableStream<Uint8Array> | undefined> {
  if (!request.body) return undefined;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > WHOLE_BODY) {
      return new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          const chunk = chunks.shift();
          if (chunk) return controller.enqueue(chunk);
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
    }
  }
  return concatBytes(chunks, size);
}

/** A `Response` of what came: the body streamed (decoded), its errors as fetch's (`signal.reason` on abort). */
function toResponse(res: NodeHttpResponse, url: URL, redirected: boolean, signal: AbortSignal): Response {
  const reader = res.body;
  if (res.status < 200 || res.status > 599) {
    void reader?.cancel();
    throw failed(new Error(`status ${res.status} is not a response fetch can return`));
  }
  let body: ReadableStream<Uint8Array> | null = null;
  // 204, 205, 304 and HEAD answers come without a body reader (1xx never reach here).
  if (reader) {
    body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            const chunk = await reader.read();
            if (chunk) controller.enqueue(chunk);
            else controller.close();
          } catch (error) {
            controller.error(signal.aborted ? signal.reason : new TypeError('terminated', { cause: error }));
          }
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    // Content-Encoding lists the codings in the order they were applied: undo them last to first.
    const codings = (res.headers.get('content-encoding') ?? '').toLowerCase().split(',').map((c) => c.trim()).filter(Boolean);
    for (const coding of codings.reverse()) {
      const format = coding === 'gzip' || coding === 'x-gzip' ? 'gzip' : coding === 'deflate' ? 'deflate' : undefined;
      if (!format) break;
      body = body.pipeThrough(new DecompressionStream(format) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
    }
  }
  const response = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperties(response, { url: { value: url.href }, redirected: { value: redirected } });
  return response;
}
