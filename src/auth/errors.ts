/**
 * Errors of the `auth` module. Like every dlaas error they carry a stable `code`, and no token,
 * refresh token, client secret or password ever appears in a message, a `cause`, a property or the
 * JSON form (see `registerSecret` in the core).
 *
 * oauth4webapi failures are mapped to these (`toAuthError`, in `oidc/errors.ts`, with the OIDC client
 * that alone loads oauth4webapi): an OAuth error response (`ResponseBodyError`,
 * `AuthorizationResponseError`) becomes an {@link OAuthError} whose `oauthCode` is the server's
 * `error`; a `WWW-Authenticate` challenge becomes the core `UnauthenticatedError`; a response that
 * fails validation becomes an {@link OAuthProtocolError} (or its state / issuer subclasses).
 * @module
 */
import { DlaasError, ErrorCode, redactUrl, scrub, type DlaasErrorOptions, type ErrorCodeValue } from '../core/errors.js';


/**
 * The authorization server answered with an OAuth 2.0 error: `invalid_grant` (replayed or
 * mismatched code, PKCE failure, revoked refresh token), `access_denied`, `expired_token`, ...
 *
 * @example
 * ```ts
 * try { await session.getToken({ forceRefresh: true }); }
 * catch (e) { if (e instanceof OAuthError && e.oauthCode === 'invalid_grant') await loginAgain(); }
 * ```
 */
export class OAuthError extends DlaasError {
  /** The OAuth `error` value, e.g. `invalid_grant`. */
  readonly oauthCode: string;
  /** The server's `error_description`, if any (secrets scrubbed). */
  readonly description: string | undefined;
  /** HTTP status of the error response (undefined for errors returned on the redirect). */
  readonly status: number | undefined;
  constructor(oauthCode: string, description: string | undefined, status: number | undefined, context: string, options: DlaasErrorOptions = {}) {
    super(`${context}: ${oauthCode}${description ? ` (${description})` : ''}`, options, ErrorCode.oauth);
    this.oauthCode = oauthCode;
    this.description = description === undefined ? undefined : scrub(description);
    this.status = status;
  }
}

/**
 * A response of the authorization server failed validation (wrong `iss`, nonce, token type, JSON
 * shape, ...). `reason` is the oauth4webapi code, e.g. `OAUTH_JWT_CLAIM_COMPARISON_FAILED`.
 *
 * @example
 * ```ts
 * if (e instanceof OAuthProtocolError) console.error('the identity provider misbehaved:', e.reason);
 * ```
 */
export class OAuthProtocolError extends DlaasError {
  /** What failed (an oauth4webapi `OAUTH_*` code, or a dlaas reason). */
  readonly reason: string;
  constructor(reason: string, message: string, options: DlaasErrorOptions = {}, errorCode: ErrorCodeValue = ErrorCode.oauthProtocol) {
    super(message, options, errorCode);
    this.reason = reason;
  }
}

/**
 * The authorization response's `state` does not match a request this client started (forged,
 * replayed or stale callback). The code in it is never redeemed.
 *
 * @example
 * ```ts
 * try { await client.completeAuthorization(location.href); }
 * catch (e) { if (e instanceof StateMismatchError) showError('Login link expired, try again'); }
 * ```
 */
export class StateMismatchError extends OAuthProtocolError {
  constructor(message = 'The authorization response does not belong to a login this client started (state mismatch)', options: DlaasErrorOptions = {}) {
    super('state_mismatch', message, options, ErrorCode.stateMismatch);
  }
}

/**
 * The discovery document of an issuer names a different issuer: the metadata cannot be trusted.
 *
 * @example
 * ```ts
 * try { await discoverIssuer('https://iam.example.org/'); }
 * catch (e) { if (e instanceof IssuerMismatchError) console.error(e.expected, '≠', e.received); }
 * ```
 */
export class IssuerMismatchError extends OAuthProtocolError {
  /** The issuer asked for. */
  readonly expected: string;
  /** The issuer the document claims, if it was a string. */
  readonly received: string | undefined;
  constructor(expected: string, received: string | undefined, options: DlaasErrorOptions = {}) {
    super('issuer_mismatch', `Discovery for ${expected} returned metadata for another issuer (${received === undefined ? 'none' : JSON.stringify(received.slice(0, 200))}); refusing to use it`, options, ErrorCode.issuerMismatch);
    this.expected = expected;
    this.received = received;
  }
}

/**
 * An issuer (or an endpoint it advertises) is not `https://`. Plain `http://` is only accepted on
 * loopback (127.0.0.1, ::1, localhost), and only with `allowInsecureLoopback: true`.
 *
 * @example
 * ```ts
 * new OidcClient({ issuer: 'http://127.0.0.1:8080', clientId: 'test', allowInsecureLoopback: true });
 * ```
 */
export class InsecureIssuerError extends DlaasError {
  /** The refused URL (redacted). */
  readonly url: string;
  constructor(url: string, reason: string) {
    super(`Refusing ${redactUrl(url) ?? url}: ${reason}`, {}, ErrorCode.insecureIssuer);
    this.url = redactUrl(url) ?? '';
  }
}

/**
 * Why a JWT was rejected.
 *
 * @example
 * ```ts
 * if (e instanceof TokenValidationError && (e.reason satisfies TokenInvalidReason) === 'aud') askForRucioToken();
 * ```
 */
export type TokenInvalidReason = 'malformed' | 'signature' | 'key' | 'alg' | 'iss' | 'aud' | 'scope' | 'exp' | 'nbf' | 'iat' | 'claim' | 'jwks';

/**
 * A JWT could not be decoded or failed verification. `reason` says which check failed.
 *
 * @example
 * ```ts
 * try { await verifier(token); }
 * catch (e) { if (e instanceof TokenValidationError && e.reason === 'aud') console.error('not a Rucio token'); }
 * ```
 */
export class TokenValidationError extends DlaasError {
  /** Which check failed. */
  readonly reason: TokenInvalidReason;
  constructor(reason: TokenInvalidReason, message: string, options: DlaasErrorOptions = {}, errorCode: ErrorCodeValue = ErrorCode.tokenInvalid) {
    super(message, options, errorCode);
    this.reason = reason;
  }
}

/**
 * The token's `exp` is in the past (beyond the clock tolerance).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof TokenExpiredError) console.error(`expired at ${e.expiredAt.toISOString()}`); }
 * ```
 */
export class TokenExpiredError extends TokenValidationError {
  /** When it expired. */
  readonly expiredAt: Date;
  constructor(expiredAt: Date, where: string, options: DlaasErrorOptions = {}) {
    super('exp', `${where}: the token expired at ${expiredAt.toISOString()}`, options, ErrorCode.tokenExpired);
    this.expiredAt = expiredAt;
  }
}

/**
 * Why a token source failed.
 *
 * @example
 * ```ts
 * if (e instanceof TokenSourceError && e.problem === 'malformed') console.error(`fix ${e.source}`);
 * ```
 */
export type TokenSourceProblem = 'missing' | 'unreadable' | 'empty' | 'malformed' | 'unavailable' | 'insecure';

/**
 * A token source could not give a token: the file is missing, unreadable or holds something that
 * is not a token, the variable is empty, the hub has no `auth_state`; or the file is `insecure`:
 * owned by another user (it may have been planted) or open to group/others (the message says which,
 * and what to do: remove it, or `chmod 600`). The content is never quoted.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof TokenSourceError) console.error(e.source, e.problem); } // 'file:/tmp/rucio_oauth.token' 'malformed'
 * ```
 */
export class TokenSourceError extends DlaasError {
  /** The source, e.g. `file:/tmp/rucio_oauth.token`, `env:RUCIO_ACCESS_TOKEN`, `jupyterhub`. */
  readonly source: string;
  /** What is wrong. */
  readonly problem: TokenSourceProblem;
  constructor(source: string, problem: TokenSourceProblem, message: string, options: DlaasErrorOptions = {}) {
    super(`${source}: ${message}`, options, ErrorCode.tokenSource);
    this.source = source;
    this.problem = problem;
  }
}

/**
 * None of the token sources tried had a token. The message names what to set.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof NoTokenError) console.error('tried', e.tried.join(', ')); }
 * ```
 */
export class NoTokenError extends DlaasError {
  /** The sources tried, in order, with the outcome of each. */
  readonly tried: string[];
  constructor(tried: string[], hint: string) {
    super(`No access token found (tried ${tried.join('; ') || 'nothing'}). ${hint}`, {}, ErrorCode.noToken);
    this.tried = tried;
  }
}

/**
 * A token store failed to read, write, delete or lock (or refused a file it cannot trust).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof TokenStoreError) console.error(e.operation, 'failed'); }
 * ```
 */
export class TokenStoreError extends DlaasError {
  /** `get`, `set`, `delete` or `lock`. */
  readonly operation: 'get' | 'set' | 'delete' | 'lock';
  constructor(operation: 'get' | 'set' | 'delete' | 'lock', message: string, options: DlaasErrorOptions = {}) {
    super(message, options, ErrorCode.tokenStore);
    this.operation = operation;
  }
}

/**
 * A non-fatal finding about a token: it lacks the audience or scope its target expects (Rucio:
 * audience `rucio`, scope `openid profile`), or is close to expiry. Handed to `onWarning`, never thrown.
 *
 * @example
 * ```ts
 * const provider = staticToken(jwt, { expect: RUCIO_TOKEN, onWarning: (w) => console.warn(w.claim, w.message) });
 * ```
 */
export class TokenWarning extends DlaasError {
  /** The claim concerned. */
  readonly claim: 'aud' | 'scope' | 'exp';
  constructor(claim: 'aud' | 'scope' | 'exp', message: string) {
    super(message, {}, ErrorCode.tokenWarning);
    this.claim = claim;
  }
}
