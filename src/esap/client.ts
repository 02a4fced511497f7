/**
 * @module
 */
import { ConfigError, InvalidArgumentError } from '../core/errors.js';
import type { TokenSource } from '../core/token.js';
import { Transport, type ResponseLimits, type RetryPolicy, type TransportAuth } from '../core/transport.js';
import { EsapApi } from './api.js';
import { EsapBasket, type BasketConfirmOptions } from './basket.js';
import type { EsapAuthMode } from './errors.js';

/**
 * Options of {@link EsapClient}.
 *
 * @example
 * ```ts
 * const options: EsapClientOptions = { baseUrl: 'https://esap.example.org', token: () => readFreshToken(), timeout: 10_000 };
 * ```
 */
export interface EsapClientOptions {
  /**
   * The ESAP base URL, e.g. `https://esap.example.org/` (the API is under `esap-api/`; a base URL
   * that already ends in `esap-api/` is used as is).
   */
  baseUrl: string | URL;
  /**
   * IAM access token for `Authorization: Bearer` (notebooks, services), as a string, a function or a
   * `TokenProvider`. ESAP validates it with the identity provider's userinfo endpoint and finds the
   * profile by the userinfo email.
   */
  token?: TokenSource | undefined;
  /** HTTP Basic credentials (ESAP's development login). */
  basic?: { readonly username: string; readonly password: string } | undefined;
  /**
   * `fetch` credentials mode for the browser's ESAP session cookie: `'include'` in the ESAP frontend
   * (same origin). No token handling at all in this mode.
   */
  credentials?: RequestCredentials | undefined;
  /** Custom `fetch` (tests, proxies). */
  fetch?: typeof fetch | undefined;
  /** Per-attempt timeout in ms (default 30 000). */
  timeout?: number | false | undefined;
  /** Total timeout per call in ms (default none). */
  totalTimeout?: number | false | undefined;
  /** Retry policy for reads (writes are never retried blindly). */
  retry?: RetryPolicy | undefined;
  /**
   * Size limits on responses, counted in decoded bytes (defaults: 16 MiB per NDJSON line, 64 MiB per
   * JSON body). A response over one fails with a `ResponseTooLargeError` naming the limit to raise here.
   */
  limits?: ResponseLimits | undefined;
  /** Extra headers on every request. Never put secrets here. */
  headers?: Record<string, string> | undefined;
  /**
   * Defaults for how basket edits confirm their write (read-back after `settleMs`, up to `maxWrites`
   * writes); each edit call can override them.
   */
  basketEdits?: BasketConfirmOptions | undefined;
}

/** @internal Base64 of the UTF-8 bytes of a text (`btoa` takes Latin-1 only). */
export function base64(text: string): string {
  let bin = '';
  for (const byte of new TextEncoder().encode(text)) bin += String.fromCharCode(byte);
  return btoa(bin);
}

function apiBase(baseUrl: string | URL): string {
  if (!URL.canParse(String(baseUrl))) return String(baseUrl); // the transport names the problem
  const u = new URL(String(baseUrl));
  if (!/\/esap-api\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/?$/, '/')}esap-api/`;
  return u.toString();
}

/**
 * A client of the ESAP API gateway (the ESCAPE science platform). Today it offers the shopping
 * basket; importing it ships nothing else.
 *
 * @example
 * ```ts
 * import { EsapClient, RucioClient } from 'dlaas';
 *
 * // In a notebook: the same IAM token (audience rucio) works for ESAP and Rucio.
 * const esap = new EsapClient({ baseUrl: 'https://esap.example.org', token: process.env.ACCESS_TOKEN });
 * const rucio = new RucioClient({ baseUrl: 'https://rucio.example.org', token: process.env.ACCESS_TOKEN });
 * const dids = await esap.basket.dids();
 * for await (const replica of rucio.replicas.list(dids)) console.log(replica.name);
 *
 * // In the ESAP frontend (same origin): the session cookie.
 * const inBrowser = new EsapClient({ baseUrl: location.origin, credentials: 'include' });
 * ```
 */
export class EsapClient {
  /** The user's shopping basket. */
  readonly basket: EsapBasket;
  /** The transport to `esap-api/` (for calls the SDK does not wrap). */
  readonly transport: Transport;
  /** How this client authenticates. */
  readonly authMode: EsapAuthMode;

  constructor(options: EsapClientOptions) {
    if (!options || !options.baseUrl) throw new ConfigError('ESAP_BASE_URL', 'ESAP: no base URL given (set "baseUrl" to the ESAP origin, e.g. https://esap.example.org)');
    if (options.token !== undefined && options.basic !== undefined) throw new InvalidArgumentError('basic', 'ESAP: pass either `token` or `basic`, not both');
    let auth: TransportAuth | undefined;
    if (options.token !== undefined) auth = { token: options.token };
    else if (options.basic !== undefined) auth = { token: base64(`${options.basic.username}:${options.basic.password}`), scheme: 'Basic' };
    this.authMode = options.token !== undefined ? 'bearer' : options.basic !== undefined ? 'basic' : options.credentials && options.credentials !== 'omit' ? 'session' : 'anonymous';
    this.transport = new Transport({
      service: 'esap',
      baseUrl: apiBase(options.baseUrl),
      auth,
      credentials: options.credentials,
      fetch: options.fetch,
      timeout: options.timeout,
      totalTimeout: options.totalTimeout,
      retry: options.retry,
      limits: options.limits,
      headers: options.headers,
    });
    this.basket = new EsapBasket(new EsapApi(this.transport, this.authMode), options.basketEdits);
  }
}
