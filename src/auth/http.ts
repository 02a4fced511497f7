/**
 * @internal HTTP plumbing of the auth module: the `https://`-only rule (plain `http://` on loopback
 * behind an explicit option), an injectable `fetch` with a per-request timeout, and the option
 * object oauth4webapi expects (`customFetch`, `allowInsecureRequests`, `signal`).
 * @module
 */
import * as oauth from 'oauth4webapi';
import { InvalidArgumentError } from '../core/errors.js';
import { isLoopback } from '../core/token.js';
import { InsecureIssuerError } from './errors.js';

/**
 * HTTP options shared by OIDC clients, token verifiers and the hub source.
 *
 * @example
 * ```ts
 * const iam = new OidcClient({ issuer: 'http://127.0.0.1:8080', clientId: 'test', allowInsecureLoopback: true, timeout: 10_000 });
 * ```
 */
export interface AuthHttpOptions {
  /** Custom `fetch` (tests, proxies). Default: the global `fetch`. */
  fetch?: typeof fetch | undefined;
  /**
   * Accept plain `http://` for loopback hosts (127.0.0.0/8, ::1, localhost): local test identity
   * providers only. Any other `http://` URL is always refused.
   */
  allowInsecureLoopback?: boolean | undefined;
  /** Per-request timeout in ms (default 30 000). */
  timeout?: number | undefined;
}


/** @internal Parse `url` and enforce the https-only rule; `what` names it in errors. */
export function assertSecureUrl(url: string | URL, allowInsecureLoopback: boolean | undefined, what: string): URL {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw new InvalidArgumentError(what, `${what} is not an absolute URL`);
  }
  if (u.protocol === 'https:') return u;
  if (u.protocol !== 'http:') throw new InsecureIssuerError(u.href, `${what} must be https://`);
  if (!isLoopback(u)) throw new InsecureIssuerError(u.href, `${what} must be https:// (plain http is only possible on loopback)`);
  if (!allowInsecureLoopback) throw new InsecureIssuerError(u.href, `${what} is plain http: pass allowInsecureLoopback: true to accept it on loopback`);
  return u;
}

/** @internal A `fetch` that refuses insecure URLs and applies the timeout. */
export function secureFetch(options: AuthHttpOptions): (url: string, init?: RequestInit) => Promise<Response> {
  const timeout = options.timeout ?? 30_000;
  return (url, init = {}) => {
    assertSecureUrl(url, options.allowInsecureLoopback, 'URL');
    const signals = [AbortSignal.timeout(timeout), ...(init.signal ? [init.signal] : [])];
    const f = options.fetch ?? globalThis.fetch;
    return f(url, { ...init, signal: AbortSignal.any(signals) });
  };
}

/** @internal The oauth4webapi options for one call: our fetch, the loopback exception, the signal. */
export function oauthHttpOptions<M extends string = 'GET' | 'POST', B = URLSearchParams>(options: AuthHttpOptions, signal?: AbortSignal): oauth.HttpRequestOptions<M, B> {
  const f = secureFetch(options);
  return {
    [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<M, B>) => f(url, init as unknown as RequestInit),
    // Every URL still goes through secureFetch, which only lets loopback http pass.
    ...(options.allowInsecureLoopback ? { [oauth.allowInsecureRequests]: true } : {}),
    ...(signal ? { signal } : {}),
  };
}
