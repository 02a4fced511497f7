/**
 * The one place where a request description becomes a `Response`. Every module (rucio, esap, auth,
 * staging) talks HTTP through a {@link Transport}; resource methods only describe requests.
 *
 * Built on ky: per-attempt and total timeouts, retries with exponential backoff and `Retry-After`
 * for idempotent requests on 429/502/503/504 and network errors. Bodies are bounded too: a body that
 * goes silent for the per-attempt timeout (or outlives the total timeout) fails with a `TimeoutError`,
 * and a JSON/text body of an idempotent request that breaks off mid-way is fetched again. On top of ky: auth header
 * injection from a {@link TokenProvider}, a single "refresh the token and retry" on 401, per-endpoint
 * `Accept` (never a global `application/json`: Rucio answers 406 on its streaming endpoints), error
 * mapping to the {@link DlaasError} hierarchy, NDJSON streaming and response validation.
 *
 * @module
 */
import ky, { HTTPError, type KyInstance, type Options as KyOptions } from 'ky';
import {
  AbortError,
  ConnectionError,
  DlaasError,
  HiddenRedirectError,
  InvalidArgumentError,
  ResponseTooLargeError,
  ResponseValidationError,
  TimeoutError,
  UnauthenticatedError,
  apiErrorFrom,
  parseRucioErrorBody,
  redactUrl,
  registerSecret,
  type ServiceName,
} from './errors.js';
import { sleep } from './abort.js';
import { DEFAULT_MAX_LINE_BYTES, ndjsonBatches, type NdjsonOptions } from './ndjson.js';
import { tokenMayGoTo, toTokenProvider, type TokenProvider, type TokenSource } from './token.js';
import { validate, validator, type Schema } from './validate.js';

/**
 * @internal How a streamed listing's lines become items: a schema (each line `JSON.parse`d, then
 * validated), or, for lines the SDK reshapes, a function giving `parse` and `map` for an endpoint.
 */
export type LineReader<T> = Schema<T> | ((endpoint: string) => Pick<NdjsonOptions<T>, 'parse' | 'map'>);

/** HTTP methods the SDK uses. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'MOVE' | 'MKCOL' | 'PROPFIND' | 'OPTIONS';

/** Query parameter values; arrays become repeated keys (`lfn=a&lfn=b`); `undefined` is dropped. */
export type QueryValue = string | number | boolean | undefined | null | readonly (string | number | boolean)[];

/** Retry policy. */
export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  limit?: number;
  /** Upper bound of one backoff delay in ms (default 10 000, like Rucio's Python client). */
  backoffLimit?: number;
  /** Upper bound for a server's `Retry-After`, in ms (default 60 000). */
  maxRetryAfter?: number;
  /** Base delay of the exponential backoff in ms (default 250: 250, 500, 1000, ...). */
  baseDelay?: number;
}

/** How the transport authenticates. */
export interface TransportAuth {
  /** Where tokens come from. */
  token: TokenSource;
  /** Header to put the token in (default `Authorization`). Rucio uses `X-Rucio-Auth-Token`. */
  header?: string;
  /** Prefix for the header value (default `Bearer` for `Authorization`, none otherwise). */
  scheme?: string | null;
}

/** Options of a {@link Transport}. */
export interface TransportOptions {
  /** Service name for errors and logs, e.g. `rucio`. */
  service: ServiceName;
  /** Base URL; request paths are resolved under it (a path prefix is kept). */
  baseUrl: string | URL;
  /** Authentication; omit for anonymous services. */
  auth?: TransportAuth | undefined;
  /** `fetch` credentials mode, e.g. `'include'` for cookie sessions (browser on the ESAP origin). */
  credentials?: RequestCredentials | undefined;
  /** Headers sent with every request (never put secrets here: use `auth`). */
  headers?: Record<string, string> | undefined;
  /** Custom `fetch` (tests, proxies, instrumented clients). */
  fetch?: typeof fetch | undefined;
  /**
   * Per-attempt timeout until response headers, in ms (default 30 000; `false` disables). It also
   * bounds the silence between two chunks of a response body (see {@link RequestSpec.idleTimeout}).
   */
  timeout?: number | false | undefined;
  /** Timeout for the whole operation including retries and reading the body, in ms (default none). */
  totalTimeout?: number | false | undefined;
  /** Retry policy. */
  retry?: RetryPolicy | undefined;
  /** Size limits on what is read from a response (defaults: 16 MiB per NDJSON line, 64 MiB per JSON/text body). */
  limits?: ResponseLimits | undefined;
}

/**
 * Size limits on responses, in bytes after decoding (`Content-Encoding: gzip` counts inflated bytes,
 * so a compressed bomb stops at the limit). Going over one throws a {@link ResponseTooLargeError}
 * naming it; `Infinity` lifts a limit. Downloads of file contents (`request()`) are not limited.
 *
 * @example
 * ```ts
 * const rucio = new RucioClient({ baseUrl, token, limits: { maxBodyBytes: 256 * 1024 * 1024 } });
 * ```
 */
export interface ResponseLimits {
  /** Longest line of a streamed (NDJSON) listing; default 16 MiB. Listings themselves are unbounded. */
  maxLineBytes?: number | undefined;
  /** Largest JSON or text body (`json()`, `text()`); default 64 MiB. */
  maxBodyBytes?: number | undefined;
}

/** Default of {@link ResponseLimits.maxBodyBytes}: 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** A request, described. */
export interface RequestSpec {
  method: HttpMethod;
  /** Path under the base URL, already encoded (use the `path` tagged template). */
  path: string;
  query?: Record<string, QueryValue> | undefined;
  /** JSON body (serialised with `JSON.stringify`). */
  json?: unknown;
  /** Raw body. Streams are never retried or replayed. */
  body?: BodyInit | undefined;
  headers?: Record<string, string> | undefined;
  /** `Accept` for this endpoint. Omit to send none (Rucio then picks its default). */
  accept?: string | undefined;
  /** Retry this request even though its method is not idempotent (e.g. `POST /replicas/list` is a read). */
  idempotent?: boolean | undefined;
  /** Send credentials (default true when the transport has auth). */
  auth?: boolean | undefined;
  /**
   * Redirects: followed by the transport itself, never by the runtime with credentials (same origin
   * keeps them, another origin drops them; `follow` and `error` mean the same). `manual` returns the
   * 3xx — in browsers, which hide redirects, the opaque response (`type` `opaqueredirect`, status 0).
   * A redirect a browser hides is followed without credentials, which are sent again only when it
   * ends on the same origin; a non-idempotent request with credentials gets a `ConnectionError`.
   */
  redirect?: RequestRedirect | undefined;
  /** Extra statuses to treat as success (e.g. 206 on `/auth/userpass`). */
  okStatuses?: readonly number[] | undefined;
  signal?: AbortSignal | undefined;
  timeout?: number | false | undefined;
  totalTimeout?: number | false | undefined;
  /**
   * Longest silence while the response body is read, in ms (default: the per-attempt `timeout`;
   * `false` disables). The per-attempt timeout ends when the headers arrive: without this, a server
   * that stalls in the middle of a body would hang the caller forever.
   */
  idleTimeout?: number | false | undefined;
}

/** Per-call options every public method accepts. */
export interface CallOptions {
  /** Abort the call. */
  signal?: AbortSignal | undefined;
  /** Per-attempt timeout in ms. */
  timeout?: number | false | undefined;
  /** Total timeout in ms. */
  totalTimeout?: number | false | undefined;
}

/** The request fields of per-call options (signal and timeouts). */
export function callSpec(opts: CallOptions | undefined): Pick<RequestSpec, 'signal' | 'timeout' | 'totalTimeout'> {
  return { signal: opts?.signal, timeout: opts?.timeout, totalTimeout: opts?.totalTimeout };
}

/** Options for {@link Transport.ndjson}. */
export interface StreamCallOptions extends CallOptions {
  /** Abort if the stream stalls for this long between chunks (default 120 000 ms). */
  idleTimeout?: number | undefined;
}

const RETRY_STATUS = [429, 502, 503, 504];
const REDIRECT = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
/** No host is exempt from the TLS rule for credentials (storage has its own list). */
const NO_HOSTS: ReadonlySet<string> = new Set();
const SECRET_HEADER = /authorization|token|password|secret|cookie/i;

function stripSecrets(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !SECRET_HEADER.test(k)));
}
/** @internal The methods HTTP defines as idempotent: only these may be sent again after a network error. */
export const IDEMPOTENT: ReadonlySet<string> = new Set<HttpMethod>(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

const setImmediateFn = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
const immediate = (): Promise<void> => new Promise((resolve) => void setImmediateFn?.(resolve));

/**
 * Let the runtime handle what has already happened before a request that is sent only once goes
 * out: the timers that fell due (a server's keep-alive timeout when it runs in this process) and the
 * I/O already received (a server's FIN on an idle keep-alive connection). Node's fetch (undici)
 * learns that a pooled connection was closed only when the event loop runs, and its idle timer for
 * that connection counts the loop's turns, not the time that passed. So after the loop was blocked
 * for longer than the server's keep-alive timeout (seconds of synchronous work, a busy machine), a
 * request sent right away went out on the dead connection and failed with `ECONNRESET` or "other
 * side closed", and a POST is not sent again (issue #17). Between two `setImmediate`s the loop runs
 * its timers and polls I/O at least once, so the closed connection is destroyed (undici then opens
 * a new one); they cost microseconds. Browsers keep their connections outside the page's event loop
 * (and have no `setImmediate`): nothing to wait for there.
 */
async function afterPendingEvents(): Promise<void> {
  if (typeof setImmediateFn !== 'function') return;
  await immediate();
  await immediate();
}

/**
 * Shared HTTP transport for one service.
 *
 * @example
 * ```ts
 * const t = new Transport({ service: 'rucio', baseUrl: 'https://rucio.example.org',
 *   auth: { token: process.env.RUCIO_ACCESS_TOKEN!, header: 'X-Rucio-Auth-Token' } });
 * const ping = await t.json({ method: 'GET', path: 'ping', auth: false });
 * ```
 */
export class Transport {
  /** Service name used in errors. */
  readonly service: ServiceName;
  /** Normalised base URL (ends with `/`). */
  readonly baseUrl: string;
  readonly #ky: KyInstance;
  readonly #provider: TokenProvider | undefined;
  readonly #authHeader: string;
  readonly #authScheme: string | null;
  readonly #options: TransportOptions;
  readonly #maxLineBytes: number;
  readonly #maxBodyBytes: number;

  constructor(options: TransportOptions) {
    this.service = options.service;
    this.baseUrl = normaliseBase(options.baseUrl, options.service);
    this.#options = options;
    this.#maxLineBytes = sizeLimit(options.limits?.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 'maxLineBytes');
    this.#maxBodyBytes = sizeLimit(options.limits?.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes');
    this.#provider = options.auth ? toTokenProvider(options.auth.token) : undefined;
    this.#authHeader = options.auth?.header ?? 'Authorization';
    this.#authScheme = options.auth?.scheme !== undefined ? options.auth.scheme : this.#authHeader.toLowerCase() === 'authorization' ? 'Bearer' : null;
    const retry = options.retry ?? {};
    const base = retry.baseDelay ?? 250;
    const fetchImpl = options.fetch;
    this.#ky = ky.create({
      ...(fetchImpl ? { fetch: (input: RequestInfo | URL, init?: RequestInit) => fetchImpl(input, init) } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      timeout: options.timeout ?? 30_000,
      totalTimeout: options.totalTimeout ?? false,
      throwHttpErrors: true,
      retry: {
        limit: retry.limit ?? 3,
        statusCodes: RETRY_STATUS,
        afterStatusCodes: [429, 503],
        maxRetryAfter: retry.maxRetryAfter ?? 60_000,
        backoffLimit: retry.backoffLimit ?? 10_000,
        delay: (attempt) => base * 2 ** (attempt - 1),
        jitter: (d) => d * (0.8 + Math.random() * 0.4),
      },
    });
  }

  /** The token provider, when the transport authenticates. */
  get tokenProvider(): TokenProvider | undefined {
    return this.#provider;
  }

  /** Absolute URL for a path and query under this transport's base URL. */
  url(pathAndQuery: string, query?: Record<string, QueryValue>): URL {
    const u = new URL(pathAndQuery.replace(/^\/+/, ''), this.baseUrl);
    if (query) {
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) for (const item of v as readonly (string | number | boolean)[]) u.searchParams.append(k, String(item));
        else u.searchParams.append(k, String(v));
      }
    }
    return u;
  }

  /**
   * Send a request and return the `Response` (2xx, or a status in `okStatuses`). Failures are thrown as
   * {@link DlaasError}s: `ApiError` subclasses for HTTP errors, `ConnectionError`, `TimeoutError`, `AbortError`.
   */
  request(spec: RequestSpec): Promise<Response> {
    return this.#request(spec, true);
  }

  async #request(spec: RequestSpec, guard: boolean): Promise<Response> {
    const started = Date.now();
    let current = spec;
    let url = this.url(spec.path, spec.query);
    let withAuth = spec.auth !== false && this.#provider !== undefined;
    for (let hop = 0; ; hop++) {
      const res = await this.#attempt(current, url, withAuth);
      if (res.type === 'opaqueredirect' && current.redirect !== 'manual') {
        // A browser hid the redirect: never let it follow with the credentials (see #hiddenRedirect).
        if (hop >= 5) throw new ConnectionError({ service: this.service, method: current.method, url: url.toString() }, `${this.service} ${current.method} ${url.pathname}: too many redirects`);
        const next = await this.#hiddenRedirect(current, url, withAuth);
        if (next instanceof URL) {
          current = { ...current, path: '', query: undefined };
          url = next;
          continue;
        }
        return guard ? this.#guardBody(next, current, next.url ? new URL(next.url) : url, started) : next;
      }
      if (!REDIRECT.has(res.status) || current.redirect === 'manual') {
        return guard ? this.#guardBody(res, current, url, started) : res;
      }
      const location = res.headers.get('Location');
      await res.body?.cancel().catch(() => {});
      if (!location || hop >= 5) {
        throw new ConnectionError({ service: this.service, method: current.method, url: url.toString() }, `${this.service} ${current.method} ${url.pathname}: ${location ? 'too many redirects' : `redirect ${res.status} without Location`}`);
      }
      const next = new URL(location, url);
      // Credentials never follow a redirect to another origin.
      if (next.origin !== url.origin) withAuth = false;
      const method = res.status === 303 || ((res.status === 301 || res.status === 302) && current.method === 'POST') ? 'GET' : current.method;
      const headers = next.origin === url.origin ? current.headers : stripSecrets(current.headers);
      current = { ...current, method, headers, ...(method === 'GET' ? { json: undefined, body: undefined } : {}), path: '', query: undefined };
      url = next;
    }
  }

  /**
   * A redirect the runtime hid: browsers answer `redirect: 'manual'` with an opaque response (no
   * status, no `Location`), so where it points is unknown. Letting the browser follow it with the
   * credentials would hand them to any origin: browsers drop `Authorization` on a cross-origin hop,
   * but keep custom headers (`X-Rucio-Auth-Token`, `X-Rucio-Password`) and send the host's cookies.
   * So the credentials never ride a redirect the transport cannot see:
   * - the request is sent again with no credential at all (no token, no secret-looking header,
   *   `credentials: 'omit'`) and the browser follows the redirect;
   * - when it was redirected to the origin the credentials belong to (`Response.url`, e.g. a
   *   trailing-slash fix), that URL is returned, and the caller requests it again with the
   *   credentials (without following redirects);
   * - when it was redirected to another origin, the anonymous answer is the answer, as for a visible
   *   redirect to another origin;
   * - when it was not redirected at all (the server redirects only authenticated requests, like
   *   Rucio's `whoami`), or the request is not idempotent (or has a stream body) and carries
   *   credentials, where it goes cannot be learnt safely: {@link HiddenRedirectError} naming the host.
   */
  async #hiddenRedirect(spec: RequestSpec, url: URL, withAuth: boolean): Promise<Response | URL> {
    const ctx = { service: this.service, method: spec.method, url: url.toString() };
    const carried = withAuth || this.#options.credentials === 'include' || Object.keys({ ...this.#options.headers, ...spec.headers }).some((k) => this.#isSecretHeader(k));
    const idempotent = spec.idempotent ?? IDEMPOTENT.has(spec.method);
    if (spec.body instanceof ReadableStream) throw new HiddenRedirectError({ ...ctx, reason: 'a stream body cannot be sent again' });
    if (carried && !idempotent) throw new HiddenRedirectError({ ...ctx, reason: `a ${spec.method} is not sent again to find out` });
    let res: Response | undefined;
    let failure: unknown;
    try {
      res = await this.#send(spec, url, undefined, true);
    } catch (error) {
      if (!(error instanceof HTTPError)) throw mapError(error, ctx, spec, this.#options.timeout);
      failure = error;
    }
    const answer = res ?? (failure as HTTPError).response;
    if (carried && !answer.redirected) {
      await res?.body?.cancel().catch(() => {});
      throw new HiddenRedirectError({ ...ctx, reason: 'it redirects only requests that carry them' });
    }
    const final = URL.canParse(answer.url) ? new URL(answer.url) : undefined;
    if (carried && final?.origin === url.origin) {
      await res?.body?.cancel().catch(() => {});
      return final;
    }
    if (failure) throw mapError(failure, final ? { ...ctx, url: final.toString() } : ctx, spec, this.#options.timeout);
    return answer;
  }

  /** A header that must never reach another origin: the auth header, tokens, passwords, cookies. */
  #isSecretHeader(name: string): boolean {
    return SECRET_HEADER.test(name) || name.toLowerCase() === this.#authHeader.toLowerCase();
  }

  /**
   * Bound the body read: a {@link TimeoutError} when no chunk arrives for `idleTimeout` ms (default
   * the per-attempt timeout) or when the total timeout runs out, instead of a read that never ends.
   */
  #guardBody(res: Response, spec: RequestSpec, url: URL, started: number): Response {
    const perAttempt = spec.timeout !== undefined ? spec.timeout : (this.#options.timeout ?? 30_000);
    const idle = spec.idleTimeout !== undefined ? spec.idleTimeout : perAttempt;
    const total = spec.totalTimeout !== undefined ? spec.totalTimeout : (this.#options.totalTimeout ?? false);
    if (!res.body || (idle === false && total === false) || res.status < 200 || NULL_BODY_STATUS.has(res.status)) return res;
    const deadline = typeof total === 'number' ? started + total : Infinity;
    const ctx = { service: this.service, method: spec.method, url: url.toString() };
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const left = deadline - Date.now();
        const limit = Math.max(0, Math.min(typeof idle === 'number' ? idle : Infinity, left));
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          const chunk = await (limit === Infinity
            ? reader.read()
            : Promise.race([
                reader.read(),
                new Promise<never>((_, reject) => {
                  timer = setTimeout(() => reject(new TimeoutError({ ...ctx, timeoutMs: limit === left ? (total as number) : (idle as number) })), limit);
                }),
              ]));
          if (chunk.done) controller.close();
          else controller.enqueue(chunk.value);
        } catch (error) {
          // Release the connection of a stalled body; report the timeout (or the read error) to the reader.
          reader.cancel(error).catch(() => {});
          controller.error(error);
        } finally {
          if (timer) clearTimeout(timer);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const guarded = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    // Keep what the caller may look at on the original (the final URL after redirects).
    Object.defineProperties(guarded, { url: { value: res.url }, redirected: { value: res.redirected }, type: { value: res.type } });
    return guarded;
  }

  async #attempt(spec: RequestSpec, url: URL, useAuth: boolean): Promise<Response> {
    const ctx = { service: this.service, method: spec.method, url: url.toString() };
    if (spec.signal?.aborted) throw new AbortError(`${this.service} ${spec.method} ${url.pathname}: aborted before sending`, { cause: spec.signal.reason });
    const replayable = !(spec.body instanceof ReadableStream);
    // Credentials travel only over TLS (loopback aside): never in clear text to another host.
    if ((useAuth || this.#options.credentials === 'include' || Object.keys({ ...this.#options.headers, ...spec.headers }).some((k) => this.#isSecretHeader(k))) && !tokenMayGoTo(url, NO_HOSTS)) {
      throw new InvalidArgumentError('baseUrl', `${this.service} ${spec.method} ${url.host}: credentials are sent only over https (plain http only to loopback); use the https:// URL of ${url.host}`);
    }
    let token = useAuth ? await this.#token(false, spec.signal) : undefined;
    // Only idempotent requests are sent again after a network error (by ky): one that is not must not
    // leave on a pooled connection the server already closed (see afterPendingEvents).
    const sentOnce = !(spec.idempotent ?? IDEMPOTENT.has(spec.method)) || !replayable;
    for (let attempt = 0; ; attempt++) {
      try {
        if (sentOnce) await afterPendingEvents();
        return await this.#send(spec, url, token);
      } catch (error) {
        const mapped = mapError(error, ctx, spec, this.#options.timeout);
        if (attempt === 0 && useAuth && replayable && this.#provider?.canRefresh && mapped instanceof UnauthenticatedError && mapped.status === 401) {
          // The token may have expired between issue and use: ask for a fresh one, once.
          token = await this.#token(true, spec.signal, token);
          continue;
        }
        throw mapped;
      }
    }
  }

  /** Send a request and parse the body as JSON, validated by `schema` when given. */
  async json<T = unknown>(spec: RequestSpec, schema?: Schema<T>): Promise<T> {
    const text = await this.#readBody(spec);
    return parseJsonBody(text, endpointOf(spec), schema);
  }

  /** Send a request and return the body as text. */
  async text(spec: RequestSpec): Promise<string> {
    return this.#readBody(spec);
  }

  /**
   * @internal Read the body of a response from {@link Transport.request} as text, as `json()` and
   * `text()` do: strict UTF-8 (invalid bytes are a {@link ResponseValidationError}, never U+FFFD) and
   * at most `limits.maxBodyBytes` decoded bytes ({@link ResponseTooLargeError}).
   */
  readText(res: Response, spec: RequestSpec): Promise<string> {
    return readText(res, spec, this.service, this.#maxBodyBytes, res.url || this.url(spec.path, spec.query).toString());
  }

  /**
   * Send and read the whole body. A body that breaks off (connection reset or closed early) is
   * retried like a failed attempt when the request is idempotent: nothing of it was handed out yet.
   * A stalled body ({@link TimeoutError}) is not retried, like a stalled attempt.
   */
  async #readBody(spec: RequestSpec): Promise<string> {
    const retryable = (spec.idempotent ?? IDEMPOTENT.has(spec.method)) && !(spec.body instanceof ReadableStream);
    const retry = this.#options.retry ?? {};
    const limit = retryable ? (retry.limit ?? 3) : 0;
    const total = spec.totalTimeout !== undefined ? spec.totalTimeout : (this.#options.totalTimeout ?? false);
    const started = Date.now();
    let current = spec;
    for (let attempt = 0; ; attempt++) {
      const res = await this.request(current);
      try {
        return await this.readText(res, current);
      } catch (error) {
        if (attempt >= limit || !(error instanceof ConnectionError) || error instanceof TimeoutError || spec.signal?.aborted) throw error;
        const delay = Math.min(retry.backoffLimit ?? 10_000, (retry.baseDelay ?? 250) * 2 ** attempt);
        if (typeof total === 'number') {
          const left = total - (Date.now() - started) - delay;
          if (left <= 0) throw error;
          current = { ...spec, totalTimeout: left };
        }
        await sleep(delay, spec.signal);
      }
    }
  }

  /** Send a request and discard the body; returns the response headers and status. */
  async send(spec: RequestSpec): Promise<{ status: number; headers: Headers }> {
    const res = await this.request(spec);
    await res.body?.cancel().catch(() => {});
    return { status: res.status, headers: res.headers };
  }

  /**
   * Stream an NDJSON (`application/x-json-stream`) listing as an async iterable. Each line is
   * validated with `schema`. The request starts on the first `next()`; `break` cancels it.
   */
  ndjson<T>(spec: RequestSpec & { idleTimeout?: number | undefined }, schema?: LineReader<T>): AsyncIterable<T> {
    const batches = this.ndjsonBatches(spec, schema);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const batch of batches) for (const item of batch) yield item;
      },
    };
  }

  /** @internal {@link Transport.ndjson} one body chunk at a time (see `ndjsonBatches`): what listings iterate. */
  ndjsonBatches<T>(spec: RequestSpec & { idleTimeout?: number | undefined }, reader?: LineReader<T>): AsyncIterable<Iterable<T>> {
    const endpoint = endpointOf(spec);
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const controller = new AbortController();
        const signal = spec.signal ? AbortSignal.any([spec.signal, controller.signal]) : controller.signal;
        // The NDJSON parser has its own idle timeout (`idleTimeout`, default 120 s).
        const res = await self.#request({ ...spec, signal }, false);
        const url = redactUrl(res.url || self.url(spec.path, spec.query)) ?? '';
        yield* ndjsonBatches<T>(res, {
          endpoint,
          signal: spec.signal,
          idleTimeoutMs: spec.idleTimeout ?? 120_000,
          maxLineBytes: self.#maxLineBytes,
          request: { service: self.service, method: spec.method, url },
          onCancel: () => controller.abort(),
          ...(typeof reader === 'function' ? reader(endpoint) : reader ? { map: validator(reader, endpoint) } : {}),
        });
      },
    };
  }

  async #token(force: boolean, signal: AbortSignal | undefined, rejected?: string): Promise<string> {
    const provider = this.#provider as TokenProvider;
    let token: string;
    try {
      token = await provider.getToken({ ...(force ? { forceRefresh: true, rejectedToken: rejected } : {}), signal });
    } catch (error) {
      if (error instanceof DlaasError) throw error;
      throw new DlaasError(`${this.service}: could not obtain an access token`, { cause: error });
    }
    if (typeof token !== 'string' || token.length === 0) {
      throw new InvalidArgumentError('token', `${this.service}: the token provider returned an empty token`);
    }
    if (/[\r\n]/.test(token)) throw new InvalidArgumentError('token', `${this.service}: the token contains a line break`);
    registerSecret(token);
    return token;
  }

  /** One request; `anonymous`: without any credential, redirects followed by the runtime (see #hiddenRedirect). */
  async #send(spec: RequestSpec, url: URL, token: string | undefined, anonymous = false): Promise<Response> {
    const headers = new Headers(this.#options.headers);
    for (const [k, v] of Object.entries(spec.headers ?? {})) headers.set(k, v);
    for (const [k, v] of headers) if (/password|token|authorization|secret/i.test(k)) registerSecret(v.replace(/^Bearer\s+/i, ''));
    if (anonymous) for (const k of [...headers.keys()]) if (this.#isSecretHeader(k)) headers.delete(k);
    if (spec.accept) headers.set('Accept', spec.accept);
    if (token !== undefined) headers.set(this.#authHeader, this.#authScheme ? `${this.#authScheme} ${token}` : token);
    const retryable = spec.idempotent ?? IDEMPOTENT.has(spec.method);
    const opts: KyOptions = {
      method: spec.method,
      headers,
      // Redirects are followed by request() itself, so credentials never cross origins. The runtime
      // follows only a request that carries none (a runtime keeps custom headers on a cross-origin hop).
      redirect: anonymous ? 'follow' : 'manual',
      ...(anonymous ? { credentials: 'omit' as const } : {}),
      retry: {
        methods: retryable ? [spec.method.toLowerCase()] : [],
        ...(retryable ? {} : { limit: 0 }),
      },
      ...(spec.body instanceof ReadableStream ? { retry: { limit: 0 }, duplex: 'half' } : {}),
      ...(spec.signal ? { signal: spec.signal } : {}),
      ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
      ...(spec.totalTimeout !== undefined ? { totalTimeout: spec.totalTimeout } : {}),
      ...(spec.json !== undefined ? { json: spec.json } : spec.body !== undefined ? { body: spec.body } : {}),
      throwHttpErrors: (status: number) => status !== 0 && !REDIRECT.has(status) && !spec.okStatuses?.includes(status),
    };
    return this.#ky(url, opts);
  }
}

/** A size limit from the options: a positive number (`Infinity` lifts it), else the default. */
function sizeLimit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw new InvalidArgumentError(`limits.${name}`, `limits.${name} must be a positive number of bytes (or Infinity), got ${String(value)}`);
  return value;
}

function normaliseBase(base: string | URL, service: ServiceName): string {
  let u: URL;
  try {
    u = new URL(String(base));
  } catch {
    throw new InvalidArgumentError('baseUrl', `${service}: base URL ${JSON.stringify(redactUrl(String(base)) ?? String(base))} is not an absolute URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InvalidArgumentError('baseUrl', `${service}: base URL must be http(s), got ${u.protocol}`);
  if (u.username || u.password) throw new InvalidArgumentError('baseUrl', `${service}: base URL must not contain credentials`);
  u.search = '';
  u.hash = '';
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u.toString();
}

/** `METHOD /path` of a request, for messages. */
export function endpointOf(spec: Pick<RequestSpec, 'method' | 'path'>): string {
  return `${spec.method} /${spec.path.replace(/^\/+/, '').split('?')[0]}`;
}

/**
 * The body as text, decoded as it streams: strictly UTF-8, and cancelled as soon as more than
 * `maxBytes` decoded bytes arrived, so memory never holds more than the limit.
 */
async function readText(res: Response, spec: RequestSpec, service: ServiceName, maxBytes: number, url: string): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const endpoint = endpointOf(spec);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const utf8 = (bytes?: Uint8Array): string => {
    try {
      return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode();
    } catch (cause) {
      // Never U+FFFD in place of bad bytes: a DID name must not silently change.
      throw new ResponseValidationError(endpoint, '', 'is not valid UTF-8 text', new TextDecoder().decode(bytes?.subarray(0, 80)), { cause });
    }
  };
  let text = '';
  let size = 0;
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      size += r.value.byteLength;
      if (size > maxBytes) throw new ResponseTooLargeError({ limit: 'maxBodyBytes', maxBytes, url, endpoint });
      text += utf8(r.value);
    }
    return text + utf8();
  } catch (cause) {
    reader.cancel().catch(() => {});
    if (spec.signal?.aborted) throw new AbortError(undefined, { cause: spec.signal.reason });
    if (cause instanceof DlaasError) throw cause;
    throw new ConnectionError({ service, method: spec.method, url: res.url, cause }, `${service} ${endpointOf(spec)}: connection lost while reading the response body`);
  }
}

/** Parse a JSON body (validated when a schema is given); a broken body is a {@link ResponseValidationError}. */
export function parseJsonBody<T>(text: string, endpoint: string, schema?: Schema<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ResponseValidationError(endpoint, '', 'is not valid JSON', text, { cause });
  }
  return schema ? validate(schema, value, endpoint) : (value as T);
}

function mapError(error: unknown, ctx: { service: ServiceName; method: string; url: string }, spec: RequestSpec, defaultTimeout?: number | false): DlaasError {
  if (error instanceof DlaasError) return error;
  if (error instanceof HTTPError) {
    const res = error.response;
    const data: unknown = (error as HTTPError & { data?: unknown }).data;
    const text = typeof data === 'string' ? data : data === undefined ? '' : safeStringify(data);
    const parsed = parseRucioErrorBody(text, res.headers);
    const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
    return apiErrorFrom({ status: res.status, ...ctx, ...parsed, ...(retryAfter !== undefined ? { retryAfter } : {}) });
  }
  const name = error instanceof Error ? error.name : '';
  if (spec.signal?.aborted || name === 'AbortError') {
    return new AbortError(`${ctx.service} ${ctx.method} ${new URL(ctx.url).pathname}: aborted`, { cause: spec.signal?.reason ?? error });
  }
  if (name === 'TimeoutError') {
    const ms = typeof spec.timeout === 'number' ? spec.timeout : spec.timeout === undefined ? (defaultTimeout === undefined ? 30_000 : defaultTimeout || undefined) : undefined;
    return new TimeoutError({ ...ctx, cause: error, timeoutMs: ms });
  }
  return new ConnectionError({ ...ctx, cause: error });
}


function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return '';
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.round((t - Date.now()) / 1000));
}
