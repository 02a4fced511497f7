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

/** A stored access token another process obtained is taken over only when it is valid this much longer. */
const ADOPT_MARGIN_MS = 5_000;

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
  /** Identifies one login across refresh-token rotations (absent in records of older versions). */
  sid?: string | undefined;
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
  /** The session in the store now (another process sharing the store may have rotated it). */
  load(): Promise<StoredSession | undefined>;
  /** Hold the store's lock on the session (no-op for stores without `lock`); resolves to its release. */
  lock(signal: AbortSignal): Promise<() => Promise<void>>;
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
  /** The login this session continues (see {@link StoredSession.sid}). */
  readonly #sid: string | undefined;

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
    this.#sid = init.stored ? init.stored.sid : crypto.randomUUID();
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
      sid: this.#sid,
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

  protected override async load({ signal, previous }: LoadContext): Promise<IssuedToken> {
    const renewal = this.#renewal;
    if (renewal?.kind === 'refresh' && this.#refreshToken) {
      // Processes sharing the store refresh one at a time, each starting from what the store holds.
      const release = await this.#backend.lock(signal);
      try {
        return await this.#refreshShared(previous?.token, signal);
      } finally {
        await release();
      }
    }
    let response: oauth.TokenEndpointResponse;
    if (renewal?.kind === 'client_credentials') {
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

  /**
   * Refresh with the refresh token (under the store's lock). A refresh token is spent at most once:
   * when another process sharing the store already rotated it, its tokens are taken over instead.
   * On `invalid_grant` the store is read again, and the session is deleted from it only when it
   * still holds the refresh token the issuer refused.
   */
  async #refreshShared(replacing: string | undefined, signal: AbortSignal): Promise<IssuedToken> {
    for (let attempt = 0; ; attempt++) {
      const adopted = await this.#adoptStored(replacing);
      if (adopted) return adopted;
      const spent = this.#refreshToken!;
      let response: oauth.TokenEndpointResponse;
      try {
        response = await this.#backend.refresh(spent, signal);
      } catch (error) {
        if (!(error instanceof OAuthError && error.oauthCode === 'invalid_grant')) throw error;
        const stored = await this.#backend.load().catch(() => undefined);
        // Rotated meanwhile by a process that does not lock (an older client, a store without `lock`): start again from its token, once.
        if (stored && stored.refreshToken !== spent && attempt === 0) continue;
        // The refresh token the issuer refused is dead: drop it from the store, unless the store already holds another.
        if (stored?.refreshToken === spent) await this.#backend.save(undefined).catch(() => {});
        throw error;
      }
      const issued = this.#absorb(response);
      await this.persist();
      return issued;
    }
  }

  /**
   * Take over the refresh token another process stored for the same login (it rotated ours), and
   * its access token unless that is the one being replaced or about to expire; `undefined` when a
   * refresh is needed. A stored session of another login is not taken over.
   */
  async #adoptStored(replacing: string | undefined): Promise<IssuedToken | undefined> {
    const stored = await this.#backend.load();
    if (!stored || stored.sid !== this.#sid || stored.refreshToken === this.#refreshToken) return undefined;
    registerSecret(stored.refreshToken);
    registerSecret(stored.accessToken);
    this.#refreshToken = stored.refreshToken;
    if (stored.scope) this.#scope = stored.scope.split(' ').filter(Boolean);
    const expiresAt = stored.expiresAt === undefined ? undefined : new Date(stored.expiresAt);
    if (!stored.accessToken || stored.accessToken === replacing || (expiresAt && expiresAt.getTime() - this.#backend.now() < ADOPT_MARGIN_MS)) return undefined;
    this.#accessToken = stored.accessToken;
    return { token: stored.accessToken, expiresAt };
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
