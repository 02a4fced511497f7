/**
 * @internal HTTP/WebDAV access to storage elements (XRootD, dCache, StoRM, EOS) with WLCG bearer
 * tokens, over the shared {@link Transport}: GET with `Range`, HEAD with `Want-Digest`, PUT, MOVE,
 * DELETE, MKCOL. Storage answers 401 or 403 for auth failures (XRootD: always 403), 200/201/204 for
 * success; both families are accepted.
 * @module
 */
import { InvalidArgumentError, NotFoundError, redactUrl } from '../core/errors.js';
import type { TokenSource } from '../core/token.js';
import { Transport, type RetryPolicy } from '../core/transport.js';

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
  /** Bearer token for storage (WLCG profile), or none for public storage. */
  token?: TokenSource | undefined;
  fetch?: typeof fetch | undefined;
  timeout?: number | false | undefined;
  retry?: RetryPolicy | undefined;
}

/** @internal */
export class StorageClient {
  readonly #t: Transport;
  /** Origins whose `Server` header named XRootD (see {@link moveDestination}). */
  readonly #xrootd = new Set<string>();

  constructor(options: StorageClientOptions) {
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

  /** GET from `offset` (Range); resolves with the response (200 or 206). */
  async get(pfn: string, offset: number, signal?: AbortSignal): Promise<Response> {
    const url = pfnToHttpUrl(pfn);
    // The download loop bounds stalls itself (`stallTimeout`), so the transport's body guard is off here.
    const res = await this.#t.request({ method: 'GET', path: url, headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal, idleTimeout: false });
    this.#note(url, res.headers);
    return res;
  }

  /** Remember what kind of server answered for `url`'s origin. */
  #note(url: string, headers: Headers): void {
    if (/xrootd/i.test(headers.get('Server') ?? '')) this.#xrootd.add(new URL(url).origin);
  }

  /** HEAD with `Want-Digest: adler32`: size and the storage's checksum when it has one. */
  async stat(pfn: string, signal?: AbortSignal): Promise<{ bytes: number | undefined; adler32: string | undefined } | undefined> {
    try {
      const url = pfnToHttpUrl(pfn);
      const { headers } = await this.#t.send({ method: 'HEAD', path: url, headers: { 'Want-Digest': 'adler32' }, signal });
      this.#note(url, headers);
      const len = headers.get('Content-Length');
      return { bytes: len === null ? undefined : Number(len), adler32: parseDigestHeader(headers.get('Digest')).adler32?.toLowerCase() };
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  /** PUT a body (a Blob or bytes: replayable, so a 401 refresh can resend it). Creates parents with MKCOL if the server wants them. */
  async put(pfn: string, body: Blob | Uint8Array, signal?: AbortSignal): Promise<void> {
    const url = pfnToHttpUrl(pfn);
    const send = async () => {
      const { headers } = await this.#t.send({ method: 'PUT', path: url, body: body as BodyInit, headers: { 'Content-Type': 'application/octet-stream' }, signal });
      this.#note(url, headers);
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
      await this.#t.send({ method: 'MKCOL', path: `${u.origin}${path}/`, signal, okStatuses: [405] });
    }
  }

  /**
   * WebDAV MOVE with an absolute `Destination` (XRootD refuses path-only destinations), encoded for
   * the server that answered earlier requests to that origin (see {@link moveDestination}).
   */
  async move(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const dest = pfnToHttpUrl(to);
    const destination = moveDestination(dest, this.#xrootd.has(new URL(dest).origin));
    await this.#t.send({ method: 'MOVE', path: pfnToHttpUrl(from), headers: { Destination: destination, Overwrite: 'T' }, signal });
  }

  /** DELETE; a missing object is fine when `ignoreMissing`. */
  async delete(pfn: string, options: { ignoreMissing?: boolean; signal?: AbortSignal | undefined } = {}): Promise<void> {
    try {
      await this.#t.send({ method: 'DELETE', path: pfnToHttpUrl(pfn), signal: options.signal });
    } catch (e) {
      if (!(options.ignoreMissing && e instanceof NotFoundError)) throw e;
    }
  }
}
