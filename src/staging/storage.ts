/**
 * @internal HTTP/WebDAV access to storage elements (XRootD, dCache, StoRM, EOS) with WLCG bearer
 * tokens, over the shared {@link Transport}: GET with `Range`, HEAD with `Want-Digest`, PUT, MOVE,
 * DELETE, MKCOL. Storage answers 401 or 403 for auth failures (XRootD: always 403), 200/201/204 for
 * success; both families are accepted.
 * @module
 */
import { AbortError, ApiError, ConnectionError, DlaasError, ForbiddenError, InvalidArgumentError, NotFoundError, TimeoutError, UnauthenticatedError, apiErrorFrom, connectionFailure, redactUrl, registerSecret } from '../core/errors.js';
import { sleep } from '../core/abort.js';
import { tokenMayGoTo, toTokenProvider, type TokenProvider, type TokenSource } from '../core/token.js';
import { Transport, type RequestSpec, type RetryPolicy } from '../core/transport.js';
import { abortReason, fetchStorageHttp, type BodyReader, type StorageHttp, type StorageResponse } from './http.js';

/** PFN schemes a `fetch`-based client can speak, and the URL scheme each maps to. */
const HTTP_SCHEMES: Record<string, string> = { https: 'https:', davs: 'https:', http: 'http:', dav: 'http:' };

/**
 * True when a PFN's scheme can be read with `fetch` (`https`, `davs`, `http`, `dav`).
 *
 * @example
 * ```ts
 * isHttpPfn('davs://se:443/rucio/f'); // true
 * isHttpPfn('root://se:1094//rucio/f'); // false
 * ```
 */
export function isHttpPfn(pfn: string): boolean {
  const i = pfn.indexOf(':');
  return i > 0 && pfn.startsWith('//', i + 1) && pfn.slice(0, i) in HTTP_SCHEMES;
}

/**
 * The `http(s)://` URL of a WebDAV PFN.
 *
 * @example
 * ```ts
 * pfnToHttpUrl('davs://h:443/p'); // 'https://h:443/p'
 * ```
 */
export function pfnToHttpUrl(pfn: string): string {
  const i = pfn.indexOf(':');
  const proto = isHttpPfn(pfn) ? HTTP_SCHEMES[pfn.slice(0, i)] : undefined;
  if (!proto) throw new InvalidArgumentError('pfn', `PFN scheme of ${JSON.stringify(pfn.slice(0, 60))} cannot be used over HTTP`);
  return `${proto}${pfn.slice(i + 1)}`;
}

/**
 * Parse an RFC 3230 `Digest` header into lower-case algorithm → value.
 *
 * @example
 * ```ts
 * parseDigestHeader('adler32=1e720467'); // { adler32: '1e720467' }
 * ```
 */
export function parseDigestHeader(value: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * The `Destination` header of a WebDAV MOVE to `url`. RFC 4918 wants a URI (percent-encoded), and
 * dCache, StoRM and Apache decode it; XRootD does not: it takes the header's bytes as the path, so a
 * name with a space or non-ASCII characters would be stored with literal `%XX` sequences. For XRootD
 * the decoded path is sent as its UTF-8 bytes (a header value is a byte string).
 *
 * @example
 * ```ts
 * moveDestination('https://se/a b/f', false); // 'https://se/a%20b/f'
 * moveDestination('https://se/a b/f', true);  // 'https://se/a b/f'
 * ```
 */
export function moveDestination(url: string, undecoded: boolean): string {
  const u = new URL(url);
  if (!undecoded) return u.href;
  let path = u.pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // A malformed escape cannot have been decoded by the server either: send it as it is.
  }
  const bytes = new TextEncoder().encode(path);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `${u.origin}${binary}${u.search}`;
}

/** @internal A URL safe for messages: no credentials, no secret query values. */
export function displayUrl(url: string): string {
  return redactUrl(url) ?? url;
}

/** Options of {@link StorageClient}. */
export interface StorageClientOptions {
  /**
   * Bearer token for storage (WLCG profile), or none for public storage. It is sent only over TLS
   * (`https`/`davs`) and to loopback, never over plain `http`/`dav` to another host unless that
   * host is listed in `tokenOverPlainHttp`.
   */
  token?: TokenSource | undefined;
  /** Hosts that may get the storage token over plain `http`/`dav` (e.g. a site-internal storage without TLS). */
  tokenOverPlainHttp?: readonly string[] | undefined;
  fetch?: typeof fetch | undefined;
  /** The bulk-bytes HTTP client for GET and PUT bodies (default: {@link fetchStorageHttp} over `fetch`). */
  http?: StorageHttp | undefined;
  /** Per-attempt timeout until response headers, in ms (default 60 000). */
  timeout?: number | false | undefined;
  retry?: RetryPolicy | undefined;
}

/** A storage response with a body to read. */
export interface StorageBody {
  status: number;
  headers: Headers;
  body: BodyReader;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** @internal */
export class StorageClient {
  readonly #t: Transport;
  /** Origins whose `Server` header named XRootD (see {@link moveDestination}). */
  readonly #xrootd = new Set<string>();
  readonly #http: StorageHttp;
  readonly #token: TokenProvider | undefined;
  readonly #plainHttpHosts: ReadonlySet<string>;
  readonly #timeout: number | false;
  readonly #retry: { limit: number; baseDelay: number; backoffLimit: number };

  constructor(options: StorageClientOptions) {
    this.#http = options.http ?? fetchStorageHttp(options.fetch ?? ((...a) => globalThis.fetch(...a)));
    this.#token = options.token === undefined ? undefined : toTokenProvider(options.token);
    this.#plainHttpHosts = new Set((options.tokenOverPlainHttp ?? []).map((h) => h.toLowerCase()));
    this.#timeout = options.timeout ?? 60_000;
    this.#retry = { limit: options.retry?.limit ?? 3, baseDelay: options.retry?.baseDelay ?? 250, backoffLimit: options.retry?.backoffLimit ?? 10_000 };
    this.#t = new Transport({
      service: 'storage',
      // Every request carries an absolute URL (from a PFN); the base is never used.
      baseUrl: 'http://storage.invalid/',
      auth: options.token === undefined ? undefined : { token: options.token },
      fetch: options.fetch,
      timeout: options.timeout ?? 60_000,
      retry: options.retry,
    });
  }

  /**
   * GET the bytes `[start, end)` of an object (`end` omitted: to its end; no `range`: the whole
   * object, without a `Range` header). Resolves when the headers arrive (200 or 206) with a body
   * reader that `signal` cancels at any point. Redirects are followed: the token only to the same
   * origin. Not retried: the download engine decides (it resumes where the bytes stopped).
   */
  async read(pfn: string, range: { start: number; end?: number | undefined } | undefined, signal: AbortSignal | undefined): Promise<StorageBody> {
    const headers: Record<string, string> = range ? { Range: `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}` } : {};
    const res = await this.#bulk('GET', pfnToHttpUrl(pfn), headers, undefined, signal);
    if (!res.body) throw new ConnectionError({ service: 'storage', method: 'GET', url: pfnToHttpUrl(pfn) }, `storage GET ${displayUrl(pfn)}: the answer has no body`);
    return res as StorageBody;
  }

  /**
   * One bulk request with the token, a timeout until the headers, one token refresh on 401, and
   * redirects (credentials only to the origin they were configured for). A non-2xx status becomes
   * the matching {@link ApiError}.
   */
  async #bulk(method: 'GET' | 'PUT', url0: string, headers: Record<string, string>, body: Blob | Uint8Array | undefined, signal: AbortSignal | undefined): Promise<StorageResponse> {
    const origin = new URL(url0).origin;
    let url = url0;
    let refreshed = false;
    let rejected: string | undefined;
    for (let hop = 0; ; ) {
      if (signal?.aborted) throw abortReason(signal);
      const sameOrigin = new URL(url).origin === origin;
      const token = this.#token && sameOrigin && this.#mayAuth(url) ? await this.#tokenFor(refreshed, rejected, signal) : undefined;
      const ac = new AbortController();
      const onAbort = () => ac.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      const timer =
        this.#timeout === false || method === 'PUT'
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              ac.abort(new TimeoutError({ service: 'storage', method, url, timeoutMs: this.#timeout as number }));
            }, this.#timeout);
      let res: StorageResponse;
      try {
        res = await this.#http.send({ method, url, headers: { ...headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body, signal: ac.signal });
      } catch (e) {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) throw abortReason(signal);
        if (timedOut) throw new TimeoutError({ service: 'storage', method, url, timeoutMs: this.#timeout as number });
        if (e instanceof DlaasError && !(e instanceof AbortError)) throw e;
        throw new ConnectionError({ service: 'storage', method, url, cause: e }, `storage ${method} ${displayUrl(url)}: ${connectionFailure(url, e)} (${e instanceof Error ? e.message : String(e)})`);
      } finally {
        clearTimeout(timer);
      }
      // The caller's signal keeps cancelling the body through `ac` until the body is done with.
      this.#note(url, res.headers);
      if (res.status >= 200 && res.status < 300) return { ...res, body: res.body && untilDone(res.body, () => signal?.removeEventListener('abort', onAbort)) };
      signal?.removeEventListener('abort', onAbort);
      const excerpt = await drain(res.body);
      if (res.status === 0) throw new ConnectionError({ service: 'storage', method, url }, `storage ${method} ${displayUrl(url)}: answered with a redirect this runtime hides (browsers do), so where it goes is unknown and the token is not sent after it; use a storage URL that serves the bytes itself`);
      if (REDIRECTS.has(res.status) && res.headers.get('Location')) {
        if (++hop > MAX_REDIRECTS) throw new ConnectionError({ service: 'storage', method, url }, `storage ${method} ${displayUrl(url0)}: more than ${MAX_REDIRECTS} redirects`);
        url = new URL(res.headers.get('Location') as string, url).href;
        continue;
      }
      if (res.status === 401 && token && !refreshed && this.#token?.canRefresh !== false) {
        refreshed = true;
        rejected = token;
        continue;
      }
      const retryAfter = Number(res.headers.get('Retry-After'));
      throw apiErrorFrom({ status: res.status, service: 'storage', method, url, bodyExcerpt: excerpt || undefined, hint: this.#withheldHint(url, res.status), ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter } : {}) });
    }
  }

  async #tokenFor(force: boolean, rejected: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const token = await (this.#token as TokenProvider).getToken({ ...(force ? { forceRefresh: true, rejectedToken: rejected } : {}), ...(signal ? { signal } : {}) });
    if (typeof token !== 'string' || !token || /[\r\n]/.test(token)) throw new InvalidArgumentError('storageToken', 'the storage token provider returned an empty or malformed token');
    registerSecret(token);
    return token;
  }

  /** May the storage token go to `url` (TLS, loopback, or a host listed in `tokenOverPlainHttp`)? */
  #mayAuth(url: string): boolean {
    return tokenMayGoTo(new URL(url), this.#plainHttpHosts);
  }

  /** For a 401/403 from a host the token was kept from: why, and what to do. */
  #withheldHint(url: string, status: number): string | undefined {
    if (!this.#token || (status !== 401 && status !== 403) || this.#mayAuth(url)) return undefined;
    const host = new URL(url).hostname;
    return `no token was sent: ${host} was asked over plain http, and tokens go only over TLS; use the RSE's https/davs protocol, or list ${host} in tokenOverPlainHttp if the link is private`;
  }

  /** A WebDAV request over the transport, with the token only where it may go. */
  async #send(spec: RequestSpec): Promise<{ status: number; headers: Headers }> {
    try {
      return await this.#t.send({ ...spec, auth: this.#mayAuth(spec.path) });
    } catch (e) {
      const hint = e instanceof UnauthenticatedError || e instanceof ForbiddenError ? this.#withheldHint(spec.path, e.status) : undefined;
      if (!hint) throw e;
      throw apiErrorFrom({ status: (e as ApiError).status, service: 'storage', method: spec.method, url: spec.path, bodyExcerpt: (e as ApiError).bodyExcerpt, hint, cause: e });
    }
  }

  /** Remember what kind of server answered for `url`'s origin. */
  #note(url: string, headers: Headers): void {
    if (/xrootd/i.test(headers.get('Server') ?? '')) this.#xrootd.add(new URL(url).origin);
  }

  /** HEAD with `Want-Digest: adler32`: size and the storage's checksum when it has one. */
  async stat(pfn: string, signal?: AbortSignal): Promise<{ bytes: number | undefined; adler32: string | undefined } | undefined> {
    try {
      const url = pfnToHttpUrl(pfn);
      const { headers } = await this.#send({ method: 'HEAD', path: url, headers: { 'Want-Digest': 'adler32' }, signal });
      this.#note(url, headers);
      const len = headers.get('Content-Length');
      return { bytes: len === null ? undefined : Number(len), adler32: parseDigestHeader(headers.get('Digest')).adler32?.toLowerCase() };
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  /**
   * PUT a body (a Blob — in Node `fs.openAsBlob(path)` reads from disk as it goes — or bytes),
   * streamed through the bulk client. Creates parents with MKCOL if the server wants them.
   */
  async put(pfn: string, body: Blob | Uint8Array, signal?: AbortSignal): Promise<void> {
    const url = pfnToHttpUrl(pfn);
    // PUT to a private temporary name is idempotent: a connection failure or a busy server is retried.
    const send = async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await this.#bulk('PUT', url, { 'Content-Type': 'application/octet-stream' }, body, signal);
          await drain(res.body);
          return;
        } catch (e) {
          const status = (e as { status?: number }).status;
          const transient = (e instanceof ConnectionError && !(e instanceof AbortError)) || status === 429 || status === 502 || status === 503 || status === 504;
          if (!transient || attempt >= this.#retry.limit || signal?.aborted) throw e;
          await sleep(Math.min(this.#retry.backoffLimit, this.#retry.baseDelay * 2 ** attempt), signal);
        }
      }
    };
    try {
      await send();
    } catch (e) {
      // Generic WebDAV servers answer 409 (or 404) when a parent collection is missing.
      const status = (e as { status?: number }).status;
      if (status !== 409 && status !== 404) throw e;
      await this.mkdirs(url, signal);
      await send();
    }
  }

  /** MKCOL every parent of `url` (existing ones are fine). */
  async mkdirs(url: string, signal?: AbortSignal): Promise<void> {
    const u = new URL(url);
    const segments = u.pathname.split('/').filter(Boolean).slice(0, -1);
    let path = '';
    for (const s of segments) {
      path += `/${s}`;
      // 405: the collection exists already.
      await this.#send({ method: 'MKCOL', path: `${u.origin}${path}/`, signal, okStatuses: [405] });
    }
  }

  /**
   * WebDAV MOVE with an absolute `Destination` (XRootD refuses path-only destinations), encoded for
   * the server that answered earlier requests to that origin (see {@link moveDestination}).
   */
  async move(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const dest = pfnToHttpUrl(to);
    const destination = moveDestination(dest, this.#xrootd.has(new URL(dest).origin));
    await this.#send({ method: 'MOVE', path: pfnToHttpUrl(from), headers: { Destination: destination, Overwrite: 'T' }, signal });
  }

  /** DELETE; a missing object is fine when `ignoreMissing`. */
  async delete(pfn: string, options: { ignoreMissing?: boolean; signal?: AbortSignal | undefined } = {}): Promise<void> {
    try {
      await this.#send({ method: 'DELETE', path: pfnToHttpUrl(pfn), signal: options.signal });
    } catch (e) {
      if (!(options.ignoreMissing && e instanceof NotFoundError)) throw e;
    }
  }
}

/** `body`, calling `done` once when it ends, fails or is cancelled. */
function untilDone(body: BodyReader, done: () => void): BodyReader {
  let open = true;
  const end = () => {
    if (open) done();
    open = false;
  };
  return {
    async read() {
      try {
        const chunk = await body.read();
        if (!chunk) end();
        return chunk;
      } catch (e) {
        end();
        throw e;
      }
    },
    async cancel(reason) {
      end();
      await body.cancel(reason);
    },
  };
}

/** Read what is left of a body (an error page: at most 4 KiB kept as text) and release it. */
async function drain(body: BodyReader | null): Promise<string> {
  if (!body) return '';
  let text = '';
  const decoder = new TextDecoder();
  try {
    for (let chunk = await body.read(); chunk; chunk = await body.read()) {
      if (text.length < 4096) text += decoder.decode(chunk, { stream: true }).slice(0, 4096 - text.length);
      else {
        await body.cancel();
        break;
      }
    }
  } catch {
    // An error page that breaks off tells nothing more.
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

