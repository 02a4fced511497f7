/**
 * The result of an OIDC login or grant, usable directly as a `TokenProvider`.
 * @module
 */
import type * as oauth from 'oauth4webapi';
import { registerSecret } from '../../core/errors.js';
import type { TokenProvider } from '../../core/token.js';
import { decodeToken, isJwt, tokenExpiry, type TokenClaims } from '../claims.js';
import { OAuthError } from '../errors.js';
import { RefreshingTokenProvider, type IssuedToken, type LoadContext, type RefreshOptions } from '../refreshing.js';

/**
 * The grant a session came from.
 *
 * @example
 * ```ts
 * if (session.grantType === 'device_code') console.log('logged in on another device');
 * ```
 */
export type OidcGrantType = 'authorization_code' | 'device_code' | 'client_credentials' | 'token_exchange' | 'refresh_token';

/** @internal How a session renews its access token. */
export type Renewal =
  | { kind: 'refresh' }
  | { kind: 'client_credentials'; params: URLSearchParams }
  | { kind: 'token_exchange'; subject: TokenProvider; params: URLSearchParams };

/** @internal What a session persists (only sessions with a refresh token are stored). */
export interface StoredSession {
  v: 1;
  issuer: string;
  clientId: string;
  grantType: OidcGrantType;
  accessToken: string;
  expiresAt?: number | undefined;
  refreshToken: string;
  scope?: string | undefined;
}

/** @internal The client side a session calls back into (built by `OidcClient`). */
export interface SessionBackend {
  readonly issuer: string;
  readonly clientId: string;
  readonly refreshOptions: RefreshOptions;
  now(): number;
  refresh(refreshToken: string, signal: AbortSignal): Promise<oauth.TokenEndpointResponse>;
  clientCredentials(params: URLSearchParams, signal: AbortSignal): Promise<oauth.TokenEndpointResponse>;
  exchange(subjectToken: string, params: URLSearchParams, signal: AbortSignal): Promise<oauth.TokenEndpointResponse>;
  save(record: StoredSession | undefined): Promise<void>;
  revoke(token: string, hint: 'refresh_token' | 'access_token', signal?: AbortSignal): Promise<void>;
}

/** @internal Initial state of a session. */
export interface SessionInit {
  grantType: OidcGrantType;
  renewal: Renewal | undefined;
  response?: oauth.TokenEndpointResponse | undefined;
  /** The refresh token used to obtain `response`, kept when the response brings no new one. */
  refreshToken?: string | undefined;
  idTokenClaims?: Readonly<Record<string, unknown>> | undefined;
  /** Restored state (instead of `response`). */
  stored?: StoredSession | undefined;
}

/**
 * An OIDC session: the tokens of a login (device, authorization code), of client credentials or of
 * a token exchange, as a `TokenProvider`. It refreshes itself: with the refresh token (rotated
 * refresh tokens replace the old one, in the store too), by repeating client credentials, or by
 * exchanging the subject's current token again. Tokens are private: they never appear in
 * `JSON.stringify(session)`, errors or logs.
 *
 * @example
 * ```ts
 * const session = await oidc.deviceLogin({ onPrompt: (p) => console.log(`Open ${p.verificationUri} and enter ${p.userCode}`) });
 * const rucio = new RucioClient({ baseUrl, token: session });
 * console.log(session.scope, session.expiresAt);
 * ```
 */
export class OidcSession extends RefreshingTokenProvider {
  /** The issuer. */
  readonly issuer: string;
  /** The OAuth client. */
  readonly clientId: string;
  /** The grant the session came from. */
  readonly grantType: OidcGrantType;
  /** Claims of the ID token (validated by oauth4webapi), for logins that returned one. */
  readonly idTokenClaims: Readonly<Record<string, unknown>> | undefined;
  readonly #backend: SessionBackend;
  #renewal: Renewal | undefined;
  #accessToken = '';
  #refreshToken: string | undefined;
  #scope: string[] = [];

  /** @internal Sessions are made by `OidcClient`. */
  constructor(backend: SessionBackend, init: SessionInit) {
    const renewal = init.renewal;
    super({ ...backend.refreshOptions, canRefresh: renewal !== undefined });
    this.#backend = backend;
    this.issuer = backend.issuer;
    this.clientId = backend.clientId;
    this.grantType = init.grantType;
    this.idTokenClaims = init.idTokenClaims;
    this.#renewal = renewal;
    if (init.stored) {
      this.#refreshToken = init.stored.refreshToken;
      registerSecret(this.#refreshToken);
      this.#scope = init.stored.scope?.split(' ').filter(Boolean) ?? [];
      this.#accessToken = init.stored.accessToken;
      this.setToken({ token: init.stored.accessToken, expiresAt: init.stored.expiresAt === undefined ? undefined : new Date(init.stored.expiresAt) });
    } else if (init.response) {
      if (init.refreshToken) this.#refreshToken = init.refreshToken;
      this.setToken(this.#absorb(init.response));
    }
  }

  /** Granted scopes. */
  get scope(): readonly string[] {
    return this.#scope;
  }

  /** Whether the session holds a refresh token. */
  get hasRefreshToken(): boolean {
    return this.#refreshToken !== undefined;
  }

  /** The claims of the current access token if it is a JWT (decoded, not verified). */
  claims(): TokenClaims | undefined {
    return this.#accessToken && isJwt(this.#accessToken) ? decodeToken(this.#accessToken) : undefined;
  }

  /** Persist the session after a grant (only refreshable user sessions are stored). */
  async persist(): Promise<void> {
    if (this.#renewal?.kind !== 'refresh' || !this.#refreshToken) return;
    await this.#backend.save({
      v: 1,
      issuer: this.issuer,
      clientId: this.clientId,
      grantType: this.grantType,
      accessToken: this.#accessToken,
      expiresAt: this.expiresAt?.getTime(),
      refreshToken: this.#refreshToken,
      scope: this.#scope.join(' ') || undefined,
    });
  }

  /**
   * End the session: revoke the refresh token at the issuer (when it offers revocation), remove
   * the session from the store and forget the tokens. Later `getToken()` calls fail with `login_required`.
   */
  async logout(options: { signal?: AbortSignal } = {}): Promise<void> {
    const refresh = this.#refreshToken;
    this.#renewal = undefined;
    this.#refreshToken = undefined;
    this.#accessToken = '';
    this.invalidate();
    await this.#backend.save(undefined);
    if (refresh) await this.#backend.revoke(refresh, 'refresh_token', options.signal);
  }

  /** A secret-free summary. */
  toJSON(): Record<string, unknown> {
    return { issuer: this.issuer, clientId: this.clientId, grantType: this.grantType, scope: this.#scope, expiresAt: this.expiresAt?.toISOString(), hasRefreshToken: this.hasRefreshToken };
  }

  protected override async load({ signal }: LoadContext): Promise<IssuedToken> {
    const renewal = this.#renewal;
    let response: oauth.TokenEndpointResponse;
    if (renewal?.kind === 'refresh' && this.#refreshToken) {
      try {
        response = await this.#backend.refresh(this.#refreshToken, signal);
      } catch (error) {
        // A refresh token the issuer no longer accepts is dead: drop it from the store.
        if (error instanceof OAuthError && error.oauthCode === 'invalid_grant') await this.#backend.save(undefined).catch(() => {});
        throw error;
      }
    } else if (renewal?.kind === 'client_credentials') {
      response = await this.#backend.clientCredentials(renewal.params, signal);
    } else if (renewal?.kind === 'token_exchange') {
      response = await this.#backend.exchange(await renewal.subject.getToken({ signal }), renewal.params, signal);
    } else {
      throw new OAuthError('login_required', this.#accessToken ? 'the access token expired and the session cannot refresh it: log in again' : 'the session has ended: log in again', undefined, `OIDC session (${this.grantType})`);
    }
    const issued = this.#absorb(response);
    this.#accessToken = issued.token;
    await this.persist();
    return issued;
  }

  #absorb(response: oauth.TokenEndpointResponse): IssuedToken {
    registerSecret(response.access_token);
    if (response.refresh_token) {
      registerSecret(response.refresh_token);
      this.#refreshToken = response.refresh_token; // rotation: the new one replaces the old
    }
    if (typeof response.id_token === 'string') registerSecret(response.id_token);
    if (response.scope) this.#scope = response.scope.split(' ').filter(Boolean);
    this.#accessToken = response.access_token;
    const expiresAt = typeof response.expires_in === 'number' ? new Date(this.#backend.now() + response.expires_in * 1000) : tokenExpiry(response.access_token);
    return { token: response.access_token, expiresAt };
  }
}
