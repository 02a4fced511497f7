/**
 * OIDC flows built on oauth4webapi: authorization code + PKCE (S256, `state` and `nonce`
 * verified), device authorization (RFC 8628), refresh with rotation, client credentials and
 * RFC 8693 token exchange. Every flow yields an {@link OidcSession}, a `TokenProvider`.
 * @module
 */
import * as oauth from 'oauth4webapi';
import { AbortError, InvalidArgumentError, registerSecret } from '../../core/errors.js';
import { sleep } from '../../core/abort.js';
import { toTokenProvider, type TokenSource } from '../../core/token.js';
import { OAuthError, OAuthProtocolError, StateMismatchError, TokenStoreError } from '../errors.js';
import { toAuthError } from './errors.js';
import { assertSecureUrl, oauthHttpOptions, type AuthHttpOptions } from '../http.js';
import type { RefreshOptions } from '../refreshing.js';
import { memoryStore, type TokenStore } from '../store.js';
import { discoverIssuer, type IssuerMetadata } from './discovery.js';
import { OidcSession, type OidcGrantType, type Renewal, type SessionBackend, type StoredSession } from './session.js';

/**
 * RFC 8693 grant type.
 *
 * @example
 * ```ts
 * body.set('grant_type', TOKEN_EXCHANGE_GRANT_TYPE);
 * ```
 */
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/**
 * RFC 8693 token type of an access token.
 *
 * @example
 * ```ts
 * await hub.exchangeToken(idToken, { subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token', requestedTokenType: ACCESS_TOKEN_TYPE });
 * ```
 */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * Scopes asked for by logins unless told otherwise (what ESCAPE's Rucio CLI asks IAM for).
 *
 * @example
 * ```ts
 * await iam.deviceLogin({ scope: `${DEFAULT_LOGIN_SCOPE} wlcg.groups`, onPrompt });
 * ```
 */
export const DEFAULT_LOGIN_SCOPE = 'openid profile offline_access';

/**
 * Options of {@link OidcClient}.
 *
 * @example
 * ```ts
 * const iam = new OidcClient({ issuer: 'https://iam-escape.cloud.cnaf.infn.it/', clientId: 'my-cli', store: fileStore(path), skew: 120 });
 * ```
 */
export interface OidcClientOptions extends AuthHttpOptions, RefreshOptions {
  /** The issuer, exactly (IAM: `https://iam-escape.cloud.cnaf.infn.it/`). Its discovery document is used for every endpoint. */
  issuer: string | URL;
  /** The registered client id. */
  clientId: string;
  /** The client secret of a confidential client (never logged). */
  clientSecret?: string | undefined;
  /** Client authentication at the token endpoint (default `client_secret_basic` with a secret, else `none`). */
  clientAuth?: 'none' | 'client_secret_basic' | 'client_secret_post' | undefined;
  /**
   * Where sessions with a refresh token and pending logins are kept (default: in memory). Pass
   * `webStorageStore('session')` for browser redirects, `chromeStorageStore()` in extensions,
   * `fileStore(path)` from `dlaas/node` for CLIs.
   */
  store?: TokenStore | undefined;
  /** Key prefix in the store (default `dlaas:oidc:<issuer>:<clientId>`). */
  storeKey?: string | undefined;
  /** Tolerated clock difference for ID token checks, in seconds (default 30). */
  clockTolerance?: number | undefined;
}

/**
 * Parameters shared by the grants that ask for scopes and audiences.
 *
 * @example
 * ```ts
 * await iam.deviceLogin({ scope: 'openid profile offline_access', audience: 'rucio', extraParams: { acr_values: 'mfa' }, onPrompt });
 * ```
 */
export interface GrantParameters {
  /** Space-separated scopes. */
  scope?: string | undefined;
  /** `audience` parameter (IAM style, e.g. `rucio`). */
  audience?: string | undefined;
  /** RFC 8707 resource indicator(s). */
  resource?: string | readonly string[] | undefined;
  /** Any further parameters. */
  extraParams?: Record<string, string> | undefined;
  /** Abort the flow. */
  signal?: AbortSignal | undefined;
}

/**
 * Options of {@link OidcClient.createAuthorizationRequest}.
 *
 * @example
 * ```ts
 * const { url } = await iam.createAuthorizationRequest({ redirectUri: 'http://127.0.0.1:8400/callback', loginHint: 'jdoe' });
 * ```
 */
export interface AuthorizationRequestOptions extends GrantParameters {
  /** The redirect URI registered for the client (loopback, app page, extension URL). */
  redirectUri: string;
  /** `prompt` (e.g. `login`, `consent`; default `consent` when the scope asks for `offline_access`, as OIDC Core §11 requires). */
  prompt?: string | undefined;
  /** `login_hint`. */
  loginHint?: string | undefined;
}

/**
 * A started authorization request. The PKCE verifier and nonce stay in the client's store.
 *
 * @example
 * ```ts
 * const { url, state } = await iam.createAuthorizationRequest({ redirectUri });
 * console.log(`open ${url} (login ${state.slice(0, 6)}…)`);
 * ```
 */
export interface AuthorizationRequest {
  /** Where to send the user's browser. */
  url: URL;
  /** The `state` value (the key of the pending login). */
  state: string;
  /** The redirect URI it returns to. */
  redirectUri: string;
}

/**
 * What to show the user during a device login.
 *
 * @example
 * ```ts
 * const onPrompt = (p: DevicePrompt) => console.log(`Open ${p.verificationUri}, enter ${p.userCode} before ${p.expiresAt.toLocaleTimeString()}`);
 * ```
 */
export interface DevicePrompt {
  /** The code to enter, e.g. `WDJB-MJHT`. */
  userCode: string;
  /** Where to enter it. */
  verificationUri: string;
  /** A URL with the code included (for QR codes / links), when the issuer provides one. */
  verificationUriComplete: string | undefined;
  /** When the code expires. */
  expiresAt: Date;
  /** Seconds between polls. */
  interval: number;
}

/**
 * Options of {@link OidcClient.deviceLogin}.
 *
 * @example
 * ```ts
 * const session = await iam.deviceLogin({ onPrompt, signal: AbortSignal.timeout(600_000) });
 * ```
 */
export interface DeviceLoginOptions extends GrantParameters {
  /** Show the code and URL to the user. Polling starts when this returns. */
  onPrompt: (prompt: DevicePrompt) => void | Promise<void>;
  /** Replace the pause between polls (UIs with their own scheduler, tests). Default: `setTimeout`. */
  wait?: ((ms: number, signal: AbortSignal | undefined) => Promise<void>) | undefined;
}

/**
 * Options of {@link OidcClient.exchangeToken}.
 *
 * @example
 * ```ts
 * const forRucio = await hub.exchangeToken(userToken, { audience: 'rucio', scope: 'openid profile' });
 * ```
 */
export interface TokenExchangeOptions extends GrantParameters {
  /** Token type of the subject token (default access token). */
  subjectTokenType?: string | undefined;
  /** `requested_token_type`, if the issuer needs it. */
  requestedTokenType?: string | undefined;
}

const PENDING_TTL_MS = 10 * 60 * 1000;

interface Pending {
  codeVerifier: string;
  nonce: string | undefined;
  redirectUri: string;
  createdAt: number;
}

type RequestFn = (as: IssuerMetadata, client: oauth.Client, auth: oauth.ClientAuth, http: oauth.HttpRequestOptions<'POST', URLSearchParams>) => Promise<Response>;
type ProcessFn<T> = (as: IssuerMetadata, client: oauth.Client, response: Response) => Promise<T>;

function params(p: GrantParameters, defaultScope?: string): URLSearchParams {
  const out = new URLSearchParams();
  const scope = p.scope ?? defaultScope;
  if (scope) out.set('scope', scope);
  if (p.audience) out.set('audience', p.audience);
  for (const r of typeof p.resource === 'string' ? [p.resource] : (p.resource ?? [])) out.append('resource', r);
  for (const [k, v] of Object.entries(p.extraParams ?? {})) out.set(k, v);
  return out;
}


/**
 * An OpenID Connect client of one issuer. Endpoints come from discovery (never guessed), every
 * protocol step is oauth4webapi's, and each flow returns an {@link OidcSession} to hand to a
 * client as its token.
 *
 * @example
 * ```ts
 * import { OidcClient, RucioClient } from 'dlaas';
 *
 * const iam = new OidcClient({ issuer: 'https://iam-escape.cloud.cnaf.infn.it/', clientId: 'my-cli' });
 * const session = await iam.deviceLogin({
 *   scope: 'openid profile offline_access wlcg.groups', audience: 'rucio',
 *   onPrompt: ({ verificationUri, userCode }) => console.log(`Open ${verificationUri} and enter ${userCode}`),
 * });
 * const rucio = new RucioClient({ baseUrl: 'https://vre-rucio.cern.ch', token: session });
 * ```
 */
export class OidcClient {
  /** The issuer identifier. */
  readonly issuer: string;
  /** The client id. */
  readonly clientId: string;
  readonly #options: OidcClientOptions;
  readonly #store: TokenStore;
  readonly #storeKey: string;
  readonly #client: oauth.Client;
  readonly #auth: oauth.ClientAuth;
  readonly #backend: SessionBackend;
  #metadata: Promise<IssuerMetadata> | undefined;

  constructor(options: OidcClientOptions) {
    if (!options?.clientId) throw new InvalidArgumentError('clientId', 'OidcClient needs a clientId');
    assertSecureUrl(options.issuer, options.allowInsecureLoopback, 'issuer');
    this.issuer = String(options.issuer);
    this.clientId = options.clientId;
    this.#options = options;
    this.#store = options.store ?? memoryStore();
    this.#storeKey = options.storeKey ?? `dlaas:oidc:${this.issuer}:${this.clientId}`;
    this.#client = { client_id: options.clientId, [oauth.clockTolerance]: options.clockTolerance ?? 30 };
    const method = options.clientAuth ?? (options.clientSecret ? 'client_secret_basic' : 'none');
    if (method !== 'none' && !options.clientSecret) throw new InvalidArgumentError('clientSecret', `client authentication ${method} needs a clientSecret`);
    if (options.clientSecret) registerSecret(options.clientSecret);
    this.#auth = method === 'none' ? oauth.None() : method === 'client_secret_post' ? oauth.ClientSecretPost(options.clientSecret!) : oauth.ClientSecretBasic(options.clientSecret!);
    this.#backend = this.#makeBackend();
  }

  /** The issuer's metadata (discovered once, then cached; a failed discovery is retried next time). */
  metadata(options: { signal?: AbortSignal | undefined } = {}): Promise<IssuerMetadata> {
    this.#metadata ??= discoverIssuer(this.issuer, { ...this.#options, signal: options.signal }).catch((error: unknown) => {
      this.#metadata = undefined;
      throw error;
    });
    return this.#metadata;
  }

  /**
   * Start an authorization code + PKCE (S256) login: returns the URL to open. `state`, `nonce` and
   * the code verifier are kept in the store until {@link OidcClient.completeAuthorization}.
   *
   * @example
   * ```ts
   * const { url } = await iam.createAuthorizationRequest({ redirectUri: 'https://app.example.org/callback', audience: 'rucio' });
   * location.assign(url);
   * ```
   */
  async createAuthorizationRequest(options: AuthorizationRequestOptions): Promise<AuthorizationRequest> {
    if (!options?.redirectUri) throw new InvalidArgumentError('redirectUri', 'an authorization request needs a redirectUri');
    const as = await this.metadata(options);
    if (!as.authorization_endpoint) throw new OAuthProtocolError(oauth.MISSING_SERVER_METADATA, `The issuer ${this.issuer} advertises no authorization_endpoint`);
    const codeVerifier = oauth.generateRandomCodeVerifier();
    registerSecret(codeVerifier);
    const state = oauth.generateRandomState();
    const p = params(options, DEFAULT_LOGIN_SCOPE);
    const nonce = p.get('scope')?.split(' ').includes('openid') ? oauth.generateRandomNonce() : undefined;
    const url = new URL(as.authorization_endpoint);
    url.searchParams.set('client_id', this.clientId);
    url.searchParams.set('redirect_uri', options.redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('state', state);
    if (nonce) url.searchParams.set('nonce', nonce);
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set('code_challenge_method', 'S256');
    // OIDC Core §11: offline access (a refresh token) needs prompt=consent unless the caller decides otherwise.
    const prompt = options.prompt ?? (p.get('scope')?.split(' ').includes('offline_access') ? 'consent' : undefined);
    if (prompt) url.searchParams.set('prompt', prompt);
    if (options.loginHint) url.searchParams.set('login_hint', options.loginHint);
    for (const [k, v] of p) url.searchParams.append(k, v);
    const pending: Pending = { codeVerifier, nonce, redirectUri: options.redirectUri, createdAt: this.#backend.now() };
    await this.#store.set(this.#pendingKey(state), JSON.stringify(pending));
    return { url, state, redirectUri: options.redirectUri };
  }

  /**
   * Finish an authorization code login with the URL the issuer redirected to. Checks that `state`
   * belongs to a login started here (single use: a replayed callback fails), the `iss` parameter,
   * the ID token and its `nonce`, then redeems the code with the PKCE verifier.
   *
   * Throws {@link StateMismatchError} for unknown/used/expired state, {@link OAuthError} for an
   * error response (`access_denied`) or a refused code (`invalid_grant`: replayed code, PKCE mismatch).
   *
   * @example
   * ```ts
   * const session = await iam.completeAuthorization(location.href);
   * ```
   */
  async completeAuthorization(callbackUrl: string | URL, options: { signal?: AbortSignal | undefined } = {}): Promise<OidcSession> {
    let url: URL;
    try {
      url = new URL(String(callbackUrl));
    } catch {
      throw new InvalidArgumentError('callbackUrl', 'the callback URL is not an absolute URL');
    }
    const callback = url.searchParams.size > 0 ? url.searchParams : new URLSearchParams(url.hash.slice(1));
    registerSecret(callback.get('code') ?? undefined);
    const state = callback.get('state');
    if (!state) throw new StateMismatchError('The authorization response carries no state');
    const key = this.#pendingKey(state);
    const raw = await this.#store.get(key);
    if (raw === undefined) throw new StateMismatchError();
    await this.#store.delete(key); // single use
    let pending: Pending;
    try {
      pending = JSON.parse(raw) as Pending;
    } catch (cause) {
      throw new TokenStoreError('get', 'The stored pending login is corrupt', { cause });
    }
    registerSecret(pending.codeVerifier);
    if (this.#backend.now() - pending.createdAt > PENDING_TTL_MS) throw new StateMismatchError('The login took too long (the pending authorization request expired); start again');
    const as = await this.metadata(options);
    let validated: URLSearchParams;
    try {
      validated = oauth.validateAuthResponse(as, this.#client, callback, state);
    } catch (error) {
      throw toAuthError(error, { operation: 'authorization response', url: redirectOf(url) });
    }
    const response = await this.#grant(
      'authorization code exchange',
      (a, c, auth, http) => oauth.authorizationCodeGrantRequest(a, c, auth, validated, pending.redirectUri, pending.codeVerifier, http),
      (a, c, res) => oauth.processAuthorizationCodeResponse(a, c, res, { expectedNonce: pending.nonce ?? oauth.expectNoNonce, requireIdToken: pending.nonce !== undefined }),
      options.signal,
    );
    return this.#session('authorization_code', response);
  }

  /**
   * Device authorization grant (RFC 8628) for notebooks and CLIs: `onPrompt` receives the user
   * code and verification URI; polling honours `interval` and `slow_down` (+5 s), and stops on
   * `signal`, on denial (`access_denied`) or when the code expires (`expired_token`).
   *
   * @example
   * ```ts
   * const session = await iam.deviceLogin({ onPrompt: (p) => console.log(p.verificationUriComplete ?? p.verificationUri, p.userCode) });
   * ```
   */
  async deviceLogin(options: DeviceLoginOptions): Promise<OidcSession> {
    if (typeof options?.onPrompt !== 'function') throw new InvalidArgumentError('onPrompt', 'deviceLogin needs an onPrompt callback to show the code to the user');
    const { signal } = options;
    const start = await this.#call(
      'device authorization',
      async (as, c, auth, http) => oauth.deviceAuthorizationRequest(as, c, auth, params(options, DEFAULT_LOGIN_SCOPE), http),
      (as, c, res) => oauth.processDeviceAuthorizationResponse(as, c, res),
      signal,
    );
    registerSecret(start.device_code);
    const expiresAt = new Date(this.#backend.now() + start.expires_in * 1000);
    let interval = Math.max(1, start.interval ?? 5);
    await options.onPrompt({ userCode: start.user_code, verificationUri: start.verification_uri, verificationUriComplete: start.verification_uri_complete, expiresAt, interval });
    const wait = options.wait ?? ((ms: number, signal: AbortSignal | undefined) => sleep(ms, signal, 'Device login aborted'));
    for (;;) {
      const remaining = expiresAt.getTime() - this.#backend.now();
      if (remaining <= 0) throw new OAuthError('expired_token', 'the device code expired before the user approved it', undefined, 'OIDC device login');
      await wait(Math.min(interval * 1000, remaining), signal);
      if (signal?.aborted) throw new AbortError('Device login aborted', { cause: signal.reason });
      try {
        const response = await this.#grant(
          'device code poll',
          (as, c, auth, http) => oauth.deviceCodeGrantRequest(as, c, auth, start.device_code, http),
          (as, c, res) => oauth.processDeviceCodeResponse(as, c, res),
          signal,
        );
        return await this.#session('device_code', response);
      } catch (error) {
        if (error instanceof OAuthError && error.oauthCode === 'authorization_pending') continue;
        if (error instanceof OAuthError && error.oauthCode === 'slow_down') {
          interval += 5;
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * Client credentials grant for services. The session repeats the grant when its token nears expiry.
   *
   * @example
   * ```ts
   * const svc = new OidcClient({ issuer, clientId: 'sync-job', clientSecret: process.env.CLIENT_SECRET });
   * const session = await svc.clientCredentials({ scope: 'scim:read' });
   * ```
   */
  async clientCredentials(options: GrantParameters = {}): Promise<OidcSession> {
    const p = params(options);
    const response = await this.#backend.clientCredentials(p, options.signal ?? new AbortController().signal);
    return this.#session('client_credentials', response, { kind: 'client_credentials', params: p });
  }

  /**
   * RFC 8693 token exchange: trade a token (e.g. a user's IAM token) for one with audience `rucio`
   * and scope `openid profile` (the defaults), as the ESCAPE hub does at spawn. The session
   * exchanges again, with the subject's current token, when its token nears expiry.
   *
   * @example
   * ```ts
   * const hub = new OidcClient({ issuer, clientId: 'jupyterhub', clientSecret });
   * const forRucio = await hub.exchangeToken(userAccessToken); // audience rucio, scope openid profile
   * ```
   */
  async exchangeToken(subject: TokenSource, options: TokenExchangeOptions = {}): Promise<OidcSession> {
    const subjectProvider = toTokenProvider(subject);
    const p = params({ ...options, audience: options.audience ?? 'rucio' }, 'openid profile');
    p.set('subject_token_type', options.subjectTokenType ?? ACCESS_TOKEN_TYPE);
    if (options.requestedTokenType) p.set('requested_token_type', options.requestedTokenType);
    const signal = options.signal ?? new AbortController().signal;
    const response = await this.#backend.exchange(await subjectProvider.getToken({ signal }), p, signal);
    return this.#session('token_exchange', response, { kind: 'token_exchange', subject: subjectProvider, params: p });
  }

  /**
   * A session from a refresh token obtained elsewhere (refreshed right away, rotation honoured).
   *
   * @example
   * ```ts
   * const session = await iam.refreshSession(savedRefreshToken);
   * ```
   */
  async refreshSession(refreshToken: string, options: { signal?: AbortSignal | undefined } = {}): Promise<OidcSession> {
    if (!refreshToken) throw new InvalidArgumentError('refreshToken', 'refreshSession needs a refresh token');
    registerSecret(refreshToken);
    const response = await this.#backend.refresh(refreshToken, options.signal ?? new AbortController().signal);
    return this.#session('refresh_token', response, { kind: 'refresh' }, refreshToken);
  }

  /**
   * The session saved in the store by an earlier login of this client, if any (it refreshes on
   * first use when its access token has expired).
   *
   * @example
   * ```ts
   * const session = (await iam.restoreSession()) ?? (await iam.deviceLogin({ onPrompt }));
   * ```
   */
  async restoreSession(): Promise<OidcSession | undefined> {
    const stored = await this.#loadStored();
    return stored && new OidcSession(this.#backend, { grantType: stored.grantType, renewal: { kind: 'refresh' }, stored });
  }

  /** A secret-free summary. */
  toJSON(): Record<string, unknown> {
    return { issuer: this.issuer, clientId: this.clientId };
  }

  /** The session record of this client in the store, if any. */
  async #loadStored(): Promise<StoredSession | undefined> {
    const raw = await this.#store.get(this.#storeKey);
    if (raw === undefined) return undefined;
    let stored: StoredSession;
    try {
      stored = JSON.parse(raw) as StoredSession;
    } catch (cause) {
      throw new TokenStoreError('get', 'The stored OIDC session is corrupt', { cause });
    }
    if (stored.v !== 1 || stored.issuer !== this.issuer || stored.clientId !== this.clientId || typeof stored.refreshToken !== 'string') return undefined;
    return stored;
  }

  #pendingKey(state: string): string {
    return `${this.#storeKey}:pending:${state}`;
  }

  async #session(grantType: OidcGrantType, response: oauth.TokenEndpointResponse, renewal?: Renewal, refreshToken?: string): Promise<OidcSession> {
    const idTokenClaims = oauth.getValidatedIdTokenClaims(response);
    const session = new OidcSession(this.#backend, {
      grantType,
      renewal: renewal ?? (response.refresh_token ? { kind: 'refresh' } : undefined),
      response,
      refreshToken,
      idTokenClaims: idTokenClaims ? { ...idTokenClaims } : undefined,
    });
    await session.persist();
    return session;
  }

  async #call<T>(operation: string, request: RequestFn, process: ProcessFn<T>, signal: AbortSignal | undefined): Promise<T> {
    const as = await this.metadata({ signal });
    const http = oauthHttpOptions<'POST', URLSearchParams>(this.#options, signal);
    const ctx = { operation, url: as.token_endpoint, signal };
    let response: Response;
    try {
      response = await request(as, this.#client, this.#auth, http);
    } catch (error) {
      throw toAuthError(error, ctx);
    }
    try {
      return await process(as, this.#client, response);
    } catch (error) {
      throw toAuthError(error, ctx);
    }
  }

  #grant(operation: string, request: RequestFn, process: ProcessFn<oauth.TokenEndpointResponse>, signal: AbortSignal | undefined): Promise<oauth.TokenEndpointResponse> {
    return this.#call(operation, request, async (as, c, res) => {
      const result = await process(as, c, res);
      registerSecret(result.access_token);
      if (result.refresh_token) registerSecret(result.refresh_token);
      return result;
    }, signal);
  }

  #makeBackend(): SessionBackend {
    const options = this.#options;
    const now = options.now ?? Date.now;
    return {
      issuer: this.issuer,
      clientId: this.clientId,
      refreshOptions: { skew: options.skew, expect: options.expect, onWarning: options.onWarning, now },
      now,
      refresh: (rt, signal) =>
        this.#grant('refresh', (as, c, auth, http) => oauth.refreshTokenGrantRequest(as, c, auth, rt, http), (as, c, res) => oauth.processRefreshTokenResponse(as, c, res), signal),
      clientCredentials: (p, signal) =>
        this.#grant('client credentials', (as, c, auth, http) => oauth.clientCredentialsGrantRequest(as, c, auth, p, http), (as, c, res) => oauth.processClientCredentialsResponse(as, c, res), signal),
      exchange: (subjectToken, p, signal) => {
        registerSecret(subjectToken);
        const body = new URLSearchParams(p);
        body.set('subject_token', subjectToken);
        return this.#grant(
          'token exchange',
          (as, c, auth, http) => oauth.genericTokenEndpointRequest(as, c, auth, TOKEN_EXCHANGE_GRANT_TYPE, body, http),
          (as, c, res) => oauth.processGenericTokenEndpointResponse(as, c, res),
          signal,
        );
      },
      save: async (record) => {
        if (record) await this.#store.set(this.#storeKey, JSON.stringify(record));
        else await this.#store.delete(this.#storeKey);
      },
      load: () => this.#loadStored(),
      lock: async (signal) => (this.#store.lock ? this.#store.lock(this.#storeKey, { signal }) : async () => {}),
      revoke: async (token, hint, signal) => {
        const as = await this.metadata({ signal });
        if (!as.revocation_endpoint) return;
        await this.#call(
          'revocation',
          (a, c, auth, http) => oauth.revocationRequest(a, c, auth, token, { ...http, additionalParameters: { token_type_hint: hint } }),
          (_a, _c, res) => oauth.processRevocationResponse(res),
          signal,
        );
      },
    };
  }
}

function redirectOf(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
