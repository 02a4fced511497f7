/**
 * The one refresh engine every token provider of the SDK is built on: a cached token, a proactive
 * refresh `skew` seconds before it expires, one shared refresh for concurrent callers, and a
 * forced refresh (after a 401) that several failing requests share.
 *
 * No timers: refreshing is lazy, on `getToken()`, so it is safe in MV3 service workers.
 * @module
 */
import { AbortError, DlaasError, InvalidArgumentError, registerSecret } from '../core/errors.js';
import type { GetTokenOptions, TokenProvider } from '../core/token.js';
import { checkToken, defaultOnWarning, type TokenRequirements } from './claims.js';
import type { TokenWarning } from './errors.js';

/**
 * A token and when it expires.
 *
 * @example
 * ```ts
 * const issued: IssuedToken = { token: r.access_token, expiresAt: new Date(Date.now() + r.expires_in * 1000) };
 * ```
 */
export interface IssuedToken {
  /** The token. */
  token: string;
  /** Its expiry, when known (JWT `exp`, `expires_in`, Rucio's expiry header). */
  expiresAt?: Date | undefined;
}

/**
 * What a loader gets when asked for a token.
 *
 * @example
 * ```ts
 * const load = async ({ signal, forced, previous }: LoadContext) => fetchToken({ signal, reuse: !forced && previous });
 * ```
 */
export interface LoadContext {
  /** Aborted when every caller waiting for this load has given up. */
  signal: AbortSignal;
  /** True after a 401 (`getToken({ forceRefresh: true })`). */
  forced: boolean;
  /** The token being replaced, if any. */
  previous: IssuedToken | undefined;
}

/**
 * Obtains a new token.
 *
 * @example
 * ```ts
 * const load: TokenLoader = async ({ signal }) => ({ token: await getFromVault(signal) });
 * ```
 */
export type TokenLoader = (context: LoadContext) => Promise<IssuedToken>;

/**
 * Options every refreshing provider accepts.
 *
 * @example
 * ```ts
 * const token = rucioUserpass({ baseUrl, username, password, skew: 120, expect: RUCIO_TOKEN, onWarning: (w) => log.warn(w.message) });
 * ```
 */
export interface RefreshOptions {
  /** Refresh this many seconds before `expiresAt` (default 60; at most half the token's lifetime). */
  skew?: number | undefined;
  /** What the token must carry for its target (e.g. `RUCIO_TOKEN`); mismatches become warnings. */
  expect?: TokenRequirements | undefined;
  /** Receives non-fatal {@link TokenWarning}s (default: `console.warn` when `expect` is set). */
  onWarning?: ((warning: TokenWarning) => void) | undefined;
  /** Clock in ms since the epoch (tests). */
  now?: (() => number) | undefined;
}

/** @internal Pick the {@link RefreshOptions} out of a larger options object (so secrets are never carried along). */
export function refreshOptionsOf(o: RefreshOptions): RefreshOptions {
  return { skew: o.skew, expect: o.expect, onWarning: o.onWarning, now: o.now };
}

/**
 * Construction options of a {@link RefreshingTokenProvider}.
 *
 * @example
 * ```ts
 * const provider = new RefreshingTokenProvider({ load, skew: 30, canRefresh: true });
 * ```
 */
export interface RefreshingProviderInit extends RefreshOptions {
  /** Obtains a token (omit when a subclass overrides `load`). */
  load?: TokenLoader | undefined;
  /** Whether a forced refresh can yield another token (default true). */
  canRefresh?: boolean | undefined;
  /** Cheap check whether the source changed since the last load (then the next call reloads). */
  changed?: (() => Promise<boolean>) | undefined;
}

/**
 * `getToken` options understood by refreshing providers: `rejectedToken` names the token the
 * server refused, so that a forced refresh arriving after another caller already replaced that
 * token reuses the new one instead of loading again.
 *
 * @example
 * ```ts
 * const fresh = await provider.getToken({ forceRefresh: true, rejectedToken: tokenThatGot401 });
 * ```
 */
export interface RefreshGetTokenOptions extends GetTokenOptions {
  /** The token that got the 401 (a forced refresh is skipped when it is no longer the current one). */
  rejectedToken?: string | undefined;
}
/** After a failed proactive refresh, keep using the still-valid token this long before trying again. */
const RETRY_AFTER_FAILURE_MS = 5_000;

interface Flight {
  promise: Promise<IssuedToken>;
  controller: AbortController;
  waiters: number;
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError('Waiting for an access token was aborted', { cause: signal.reason });
}

/**
 * A {@link TokenProvider} with caching, proactive and single-flight refresh. Give it a loader, or
 * subclass it and override {@link RefreshingTokenProvider.load}.
 *
 * - `getToken()` returns the cached token until `skew` seconds before `expiresAt`, then loads a new one.
 * - Concurrent callers share one load; a caller's `signal` only stops its own wait (the load is
 *   aborted when no caller waits any more).
 * - `getToken({ forceRefresh: true })` (the transport's retry after a 401) joins the load under
 *   way or starts one, so that N requests failing together cause one refresh; with
 *   `rejectedToken` it also skips the load when that token was already replaced.
 * - A failed proactive refresh falls back to the cached token while it is still valid.
 *
 * @example
 * ```ts
 * const provider = new RefreshingTokenProvider({
 *   load: async ({ signal }) => {
 *     const r = await fetch('https://example.org/token', { signal }).then((res) => res.json());
 *     return { token: r.access_token, expiresAt: new Date(Date.now() + r.expires_in * 1000) };
 *   },
 *   skew: 30,
 * });
 * const rucio = new RucioClient({ baseUrl, token: provider });
 * ```
 */
export class RefreshingTokenProvider implements TokenProvider {
  /** True when a forced refresh can yield another token. */
  readonly canRefresh: boolean;
  readonly #loader: TokenLoader | undefined;
  readonly #changed: (() => Promise<boolean>) | undefined;
  readonly #skewMs: number;
  readonly #now: () => number;
  readonly #expect: TokenRequirements | undefined;
  readonly #onWarning: (w: TokenWarning) => void;
  #current: (IssuedToken & { loadedAt: number }) | undefined;
  #flight: Flight | undefined;
  #retryAfter = 0;
  #checked: string | undefined;

  constructor(init: RefreshingProviderInit = {}) {
    const skew = init.skew ?? 60;
    if (!(skew >= 0) || !Number.isFinite(skew)) throw new InvalidArgumentError('skew', 'skew must be a non-negative number of seconds');
    this.canRefresh = init.canRefresh ?? true;
    this.#loader = init.load;
    this.#changed = init.changed;
    this.#skewMs = skew * 1000;
    this.#now = init.now ?? Date.now;
    this.#expect = init.expect;
    this.#onWarning = init.onWarning ?? defaultOnWarning;
  }

  /** When the cached token expires, if known. */
  get expiresAt(): Date | undefined {
    return this.#current?.expiresAt;
  }

  /** Return a valid token, loading one when there is none, it is about to expire, or `forceRefresh`. */
  async getToken(options: RefreshGetTokenOptions = {}): Promise<string> {
    const { forceRefresh = false, signal, rejectedToken } = options;
    if (signal?.aborted) throw abortError(signal);
    const current = this.#current;
    if (current && !forceRefresh && !this.#due(current) && !(await this.#sourceChanged())) return current.token;
    if (forceRefresh && current && !this.#flight && rejectedToken !== undefined && rejectedToken !== current.token) return current.token;
    const flight = this.#flight ?? this.#start(forceRefresh, current);
    try {
      return (await this.#join(flight, signal)).token;
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (!forceRefresh && current && this.#valid(current)) {
        this.#retryAfter = this.#now() + RETRY_AFTER_FAILURE_MS;
        return current.token;
      }
      throw error;
    }
  }

  /**
   * Load a new token now, whatever the cache says (joining a load already under way).
   */
  async refresh(options: { signal?: AbortSignal | undefined } = {}): Promise<string> {
    if (options.signal?.aborted) throw abortError(options.signal);
    const flight = this.#flight ?? this.#start(true, this.#current);
    return (await this.#join(flight, options.signal)).token;
  }

  /** Forget the cached token: the next `getToken()` loads a new one. */
  invalidate(): void {
    this.#current = undefined;
  }

  /** Obtain a new token. Subclasses override this instead of passing `load`. */
  protected load(context: LoadContext): Promise<IssuedToken> {
    if (!this.#loader) throw new InvalidArgumentError('load', 'RefreshingTokenProvider needs a "load" function');
    return this.#loader(context);
  }

  /** Cheap check whether the source changed since the last load. Subclasses may override. */
  protected sourceChanged(): Promise<boolean> {
    return this.#changed ? this.#changed() : Promise.resolve(false);
  }

  /** Install a token obtained outside `load` (e.g. the first token of a login). */
  protected setToken(issued: IssuedToken): void {
    if (typeof issued.token !== 'string' || issued.token.length === 0) throw new InvalidArgumentError('token', 'The token source returned an empty token');
    registerSecret(issued.token);
    const now = this.#now();
    this.#current = { token: issued.token, expiresAt: issued.expiresAt, loadedAt: now };
    this.#retryAfter = 0;
    this.#warn(issued.token);
  }

  #valid(t: IssuedToken): boolean {
    return t.expiresAt === undefined || this.#now() < t.expiresAt.getTime();
  }

  #due(t: IssuedToken & { loadedAt: number }): boolean {
    if (t.expiresAt === undefined) return false;
    const exp = t.expiresAt.getTime();
    const now = this.#now();
    const refreshAt = Math.max(exp - this.#skewMs, t.loadedAt + (exp - t.loadedAt) / 2);
    if (now < refreshAt) return false;
    return !(now < this.#retryAfter && now < exp);
  }

  async #sourceChanged(): Promise<boolean> {
    try {
      return await this.sourceChanged();
    } catch {
      return true;
    }
  }

  #start(forced: boolean, previous: IssuedToken | undefined): Flight {
    const controller = new AbortController();
    const flight: Flight = { controller, waiters: 0, promise: Promise.resolve({ token: '' }) };
    flight.promise = (async () => {
      let issued: IssuedToken;
      try {
        issued = await this.load({ signal: controller.signal, forced, previous: previous && { token: previous.token, expiresAt: previous.expiresAt } });
      } catch (error) {
        if (error instanceof DlaasError) throw error;
        throw new DlaasError('Could not obtain an access token', { cause: error });
      }
      this.setToken(issued);
      return issued;
    })().finally(() => {
      if (this.#flight === flight) this.#flight = undefined;
    });
    flight.promise.catch(() => {}); // every waiter may have left
    this.#flight = flight;
    return flight;
  }

  async #join(flight: Flight, signal: AbortSignal | undefined): Promise<IssuedToken> {
    flight.waiters++;
    try {
      if (!signal) return await flight.promise;
      return await new Promise<IssuedToken>((resolve, reject) => {
        const onAbort = () => reject(abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        flight.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } finally {
      flight.waiters--;
      if (flight.waiters === 0 && signal?.aborted && this.#flight === flight) flight.controller.abort(signal.reason);
    }
  }

  #warn(token: string): void {
    if (!this.#expect || this.#checked === token) return;
    this.#checked = token;
    for (const w of checkToken(token, this.#expect, { now: this.#now() })) this.#onWarning(w);
  }
}
