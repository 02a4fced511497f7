/**
 * The token provider contract between the transport and the `auth` module.
 *
 * The transport asks for a token before each request and, on a 401, once more with
 * `forceRefresh: true` when the provider can refresh. Providers own caching and refresh.
 *
 * @module
 */

/** Options for {@link TokenProvider.getToken}. */
export interface GetTokenOptions {
  /** Discard the cached token and obtain a new one (the transport sets this after a 401). */
  forceRefresh?: boolean;
  /** Abort a slow refresh. */
  signal?: AbortSignal | undefined;
  /**
   * The token the server just rejected (with `forceRefresh` after a 401). A provider that has
   * already replaced it (another caller refreshed meanwhile) returns the new one without refreshing again.
   */
  rejectedToken?: string | undefined;
}

/**
 * Supplies access tokens. Implementations share one refresh between concurrent callers.
 *
 * @example
 * ```ts
 * const provider: TokenProvider = { getToken: async () => process.env.RUCIO_ACCESS_TOKEN! };
 * ```
 */
export interface TokenProvider {
  /** Return a valid token, refreshing it if needed (or if `forceRefresh`). */
  getToken(options?: GetTokenOptions): Promise<string>;
  /** When the current token expires, if known. */
  readonly expiresAt?: Date | undefined;
  /** True when `getToken({ forceRefresh: true })` can yield a different token. */
  readonly canRefresh?: boolean;
}

/** A token given as a string, a function returning one, or a {@link TokenProvider}. */
export type TokenSource = string | (() => string | Promise<string>) | TokenProvider;

/** @internal Is the URL's host a loopback address (127.0.0.0/8, ::1, localhost)? */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * @internal May a credential be sent to `url`? Only over TLS (`https:`), to loopback, or to a host the
 * user listed in `plainHttpHosts` (e.g. storage inside a site network without TLS).
 */
export function tokenMayGoTo(url: URL, plainHttpHosts: ReadonlySet<string>): boolean {
  return url.protocol === 'https:' || isLoopback(url) || plainHttpHosts.has(url.hostname.toLowerCase());
}

/** Normalise any {@link TokenSource} to a {@link TokenProvider}. */
export function toTokenProvider(source: TokenSource): TokenProvider {
  if (typeof source === 'string') {
    const token = source;
    return { getToken: async () => token, canRefresh: false };
  }
  if (typeof source === 'function') {
    const fn = source;
    // A function is re-invoked on every call, so a forced refresh may return a new value.
    return { getToken: async () => fn(), canRefresh: true };
  }
  return source;
}
