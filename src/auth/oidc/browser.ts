/**
 * Browser helpers for the authorization code flow: a full-page redirect (with its callback
 * handler) and a popup. The DOM is reached through `globalThis` or injected, so the module loads
 * anywhere (MV3 service workers included) and is testable without a browser.
 * @module
 */
import { AbortError, InvalidArgumentError } from '../../core/errors.js';
import { OAuthError } from '../errors.js';
import type { AuthorizationRequestOptions, OidcClient } from './client.js';
import type { OidcSession } from './session.js';

/**
 * `data.type` of the message a callback page posts to its opener.
 *
 * @example
 * ```ts
 * addEventListener('message', (e) => { if (e.data?.type === CALLBACK_MESSAGE_TYPE) console.log(e.data.url); });
 * ```
 */
export const CALLBACK_MESSAGE_TYPE = 'dlaas:oidc-callback';

interface LocationLike {
  href: string;
  origin: string;
  assign(url: string): void;
}
interface HistoryLike {
  replaceState(data: unknown, unused: string, url?: string): void;
}

function globalOf<T>(name: string): T | undefined {
  return (globalThis as Record<string, unknown>)[name] as T | undefined;
}

/**
 * Options of {@link loginWithRedirect}.
 *
 * @example
 * ```ts
 * await loginWithRedirect(iam, { redirectUri: `${location.origin}/callback`, audience: 'rucio', navigate: (url) => location.replace(url) });
 * ```
 */
export interface RedirectLoginOptions extends AuthorizationRequestOptions {
  /** Navigate to the authorization URL (default `location.assign`). */
  navigate?: ((url: URL) => void) | undefined;
}

/**
 * Start a full-page redirect login. The pending request is kept in the client's store, so give
 * the client a store that survives the round trip (`webStorageStore('session')`), then call
 * {@link handleRedirectCallback} on the redirect page.
 *
 * @example
 * ```ts
 * const iam = new OidcClient({ issuer, clientId: 'esap-gui', store: webStorageStore('session') });
 * await loginWithRedirect(iam, { redirectUri: `${location.origin}/callback`, audience: 'rucio' });
 * ```
 */
export async function loginWithRedirect(client: OidcClient, options: RedirectLoginOptions): Promise<void> {
  const navigate = options.navigate ?? defaultNavigate();
  const request = await client.createAuthorizationRequest(options);
  navigate(request.url);
}

function defaultNavigate(): (url: URL) => void {
  const location = globalOf<LocationLike>('location');
  if (!location?.assign) throw new InvalidArgumentError('navigate', 'no location to navigate in this runtime: pass "navigate"');
  return (url) => location.assign(url.href);
}

/**
 * Options of {@link handleRedirectCallback}.
 *
 * @example
 * ```ts
 * const session = await handleRedirectCallback(iam, { cleanUrl: false });
 * ```
 */
export interface RedirectCallbackOptions {
  /** The callback URL (default: the current `location.href`). */
  url?: string | URL | undefined;
  /** Remove `code`, `state` and friends from the address bar afterwards (default true). */
  cleanUrl?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Finish a redirect login on the callback page (state, nonce and PKCE checked by
 * {@link OidcClient.completeAuthorization}), then clean the address bar.
 *
 * @example
 * ```ts
 * const session = await handleRedirectCallback(iam);
 * const esap = new EsapClient({ baseUrl, token: session });
 * ```
 */
export async function handleRedirectCallback(client: OidcClient, options: RedirectCallbackOptions = {}): Promise<OidcSession> {
  const location = globalOf<LocationLike>('location');
  const url = options.url ?? location?.href;
  if (url === undefined) throw new InvalidArgumentError('url', 'no callback URL: pass "url"');
  const session = await client.completeAuthorization(url, { signal: options.signal });
  const history = globalOf<HistoryLike>('history');
  if (options.cleanUrl !== false && history && location && options.url === undefined) {
    const clean = new URL(location.href);
    for (const k of ['code', 'state', 'iss', 'session_state', 'error', 'error_description']) clean.searchParams.delete(k);
    history.replaceState(null, '', clean.href);
  }
  return session;
}

/**
 * The popup window, as far as the helper uses it.
 *
 * @example
 * ```ts
 * const popup: PopupWindowLike | null = window.open('about:blank', 'login');
 * ```
 */
export interface PopupWindowLike {
  location: { href: string } | string;
  readonly closed: boolean;
  /** Close the popup. */
  close(): void;
}

/**
 * A `message` event, as far as the helper uses it.
 *
 * @example
 * ```ts
 * host.addEventListener('message', (e: MessageEventLike) => console.log(e.origin));
 * ```
 */
export interface MessageEventLike {
  origin: string;
  data: unknown;
  source?: unknown;
}

/**
 * The window that opens the popup, as far as the helper uses it.
 *
 * @example
 * ```ts
 * const session = await loginWithPopup(iam, { host: window satisfies PopupHost, redirectUri });
 * ```
 */
export interface PopupHost {
  /** `window.open`: the popup, or `null` when a blocker refused it. */
  open(url: string, target: string, features: string): PopupWindowLike | null;
  /** Listen for the popup's `message` with the callback URL. */
  addEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  /** Stop listening. */
  removeEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
}

/**
 * Options of {@link loginWithPopup}.
 *
 * @example
 * ```ts
 * const session = await loginWithPopup(iam, { redirectUri: `${location.origin}/popup.html`, timeout: 120_000, popupFeatures: 'popup,width=600,height=700' });
 * ```
 */
export interface PopupLoginOptions extends AuthorizationRequestOptions {
  /** The opening window (default `globalThis`). */
  host?: PopupHost | undefined;
  /** `window.open` features (default a centred 500×650 window). */
  popupFeatures?: string | undefined;
  /** Give up after this many ms (default 300 000). */
  timeout?: number | undefined;
}

/**
 * Log in in a popup. Call it from a click handler: the popup is opened synchronously (before any
 * `await`) so that browsers do not block it. The redirect page must call {@link notifyOpener}.
 * Closing the popup rejects with `OAuthError` `access_denied`.
 *
 * @example
 * ```ts
 * button.onclick = async () => {
 *   const session = await loginWithPopup(iam, { redirectUri: `${location.origin}/popup-callback.html`, audience: 'rucio' });
 * };
 * // popup-callback.html: <script type="module">import { notifyOpener } from 'dlaas'; notifyOpener();</script>
 * ```
 */
export async function loginWithPopup(client: OidcClient, options: PopupLoginOptions): Promise<OidcSession> {
  const host = options.host ?? (globalThis as unknown as PopupHost);
  if (typeof host.open !== 'function') throw new InvalidArgumentError('host', 'no window to open a popup from in this runtime: pass "host"');
  const popup = host.open('about:blank', 'dlaas-oidc-login', options.popupFeatures ?? 'popup,width=500,height=650');
  if (!popup) throw new OAuthError('access_denied', 'the login popup was blocked', undefined, 'OIDC popup login');
  const expectedOrigin = new URL(options.redirectUri).origin;
  let callbackUrl: string;
  try {
    const request = await client.createAuthorizationRequest(options);
    setLocation(popup, request.url.href);
    callbackUrl = await new Promise<string>((resolve, reject) => {
      const cleanup = () => {
        host.removeEventListener('message', onMessage);
        clearInterval(poll);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const onMessage = (event: MessageEventLike) => {
        if (event.origin !== expectedOrigin || (event.source !== undefined && event.source !== popup)) return;
        const data = event.data as { type?: unknown; url?: unknown } | null;
        if (!data || data.type !== CALLBACK_MESSAGE_TYPE || typeof data.url !== 'string') return;
        cleanup();
        resolve(data.url);
      };
      const onAbort = () => {
        cleanup();
        reject(new AbortError('Popup login aborted', { cause: options.signal?.reason }));
      };
      const poll = setInterval(() => {
        if (!popup.closed) return;
        cleanup();
        reject(new OAuthError('access_denied', 'the login window was closed', undefined, 'OIDC popup login'));
      }, 500);
      const timer = setTimeout(() => {
        cleanup();
        reject(new OAuthError('access_denied', 'the login was not completed in time', undefined, 'OIDC popup login'));
      }, options.timeout ?? 300_000);
      host.addEventListener('message', onMessage);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  } finally {
    if (!popup.closed) popup.close();
  }
  return client.completeAuthorization(callbackUrl, { signal: options.signal });
}

function setLocation(popup: PopupWindowLike, href: string): void {
  if (typeof popup.location === 'string') popup.location = href;
  else popup.location.href = href;
}

/**
 * On the popup's redirect page: hand the callback URL to the opener (same origin only) and close.
 * Returns false when there is no opener (then finish with {@link handleRedirectCallback}).
 *
 * @example
 * ```ts
 * if (!notifyOpener()) await handleRedirectCallback(iam);
 * ```
 */
export function notifyOpener(options: { close?: boolean | undefined } = {}): boolean {
  const opener = globalOf<{ postMessage(data: unknown, targetOrigin: string): void } | null>('opener');
  const location = globalOf<LocationLike>('location');
  if (!opener || !location) return false;
  opener.postMessage({ type: CALLBACK_MESSAGE_TYPE, url: location.href }, location.origin);
  if (options.close !== false) globalOf<() => void>('close')?.call(globalThis);
  return true;
}
