/**
 * Verify a JWT fully against its issuer's keys (signature, `iss`, `aud`, `exp`/`nbf` with clock
 * tolerance, scope), with jose; keys from a JWKS given, its URL, or OIDC discovery. Apart from
 * ./claims.ts (decoding), which is all that reading a token needs.
 * @module
 */
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet } from 'jose/jwks/local';
import { createRemoteJWKSet, customFetch } from 'jose/jwks/remote';
import { jwtVerify } from 'jose/jwt/verify';
import { DlaasError } from '../core/errors.js';
import { JWT_SHAPE, claimsOf, date, items, type TokenClaims } from './claims.js';
import { TokenExpiredError, TokenValidationError, type TokenInvalidReason } from './errors.js';
import { assertSecureUrl, secureFetch, type AuthHttpOptions } from './http.js';
import { discoverIssuer } from './oidc/discovery.js';

/**
 * Options of {@link createTokenVerifier}.
 *
 * @example
 * ```ts
 * const options: TokenVerifierOptions = { issuer: 'https://iam-escape.cloud.cnaf.infn.it/', audience: 'rucio', scope: 'openid profile', clockTolerance: 60 };
 * ```
 */
export interface TokenVerifierOptions extends AuthHttpOptions {
  /** The exact issuer (`iss`), trailing slash included (IAM issuers end in `/`). */
  issuer: string;
  /** Audience the token must have (any of, when a list). Omit to skip the check. */
  audience?: string | readonly string[] | undefined;
  /** Scope items the token must all have, e.g. `openid profile` for Rucio. */
  scope?: string | readonly string[] | undefined;
  /** The issuer's keys, when known. Otherwise `jwksUri`, otherwise discovered from the issuer. */
  jwks?: JSONWebKeySet | undefined;
  /** Where the issuer publishes its keys (`jwks_uri`). */
  jwksUri?: string | URL | undefined;
  /** Accepted signature algorithms (default: the asymmetric ones jose supports). */
  algorithms?: string[] | undefined;
  /** Tolerated clock difference for `exp`/`nbf`/`iat`, in seconds (default 30). */
  clockTolerance?: number | undefined;
  /**
   * Minimum time between two JWKS fetches triggered by an unknown key id, in ms (default 30 000).
   * A token signed with a new (rotated) key makes the verifier refetch the set once per period.
   */
  jwksCooldown?: number | undefined;
}

/**
 * A function that verifies a token and returns its claims.
 *
 * @example
 * ```ts
 * const verify: TokenVerifier = createTokenVerifier({ issuer, audience: 'rucio' });
 * const { sub, groups } = await verify(token);
 * ```
 */
export type TokenVerifier = (token: string) => Promise<TokenClaims>;

/**
 * Build a verifier that checks a JWT against its issuer: signature (keys from `jwks`, `jwksUri` or
 * discovery, refetched when a rotated key appears), `iss`, `aud`, `exp`/`nbf` with clock tolerance,
 * and required scope items. Every failure is a {@link TokenValidationError} whose `reason` names
 * the check ({@link TokenExpiredError} for `exp`).
 *
 * @example
 * ```ts
 * const verify = createTokenVerifier({ issuer: 'https://iam-escape.cloud.cnaf.infn.it/', audience: 'rucio', scope: 'openid profile' });
 * const claims = await verify(token); // throws TokenValidationError / TokenExpiredError
 * ```
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  assertSecureUrl(options.issuer, options.allowInsecureLoopback, 'issuer');
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const getKeys = () =>
    (keys ??= (async () => {
      if (options.jwks) return createLocalJWKSet(options.jwks);
      const uri = options.jwksUri ?? (await discoverIssuer(options.issuer, options)).jwks_uri;
      if (!uri) throw new TokenValidationError('jwks', `The issuer ${options.issuer} publishes no jwks_uri`);
      const f = secureFetch(options);
      return createRemoteJWKSet(assertSecureUrl(uri, options.allowInsecureLoopback, 'jwks_uri'), {
        cooldownDuration: options.jwksCooldown ?? 30_000,
        [customFetch]: (url: string, init: RequestInit) => f(url, init),
      });
    })().catch((error: unknown) => {
      keys = undefined; // retry discovery next time
      throw error;
    }));
  const required = items(options.scope);
  return async (token) => {
    if (typeof token !== 'string' || !JWT_SHAPE.test(token)) throw new TokenValidationError('malformed', 'The token is not a JWT (expected three base64url parts)');
    const keySet = await getKeys();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        issuer: options.issuer,
        ...(options.audience !== undefined ? { audience: typeof options.audience === 'string' ? options.audience : [...options.audience] } : {}),
        clockTolerance: options.clockTolerance ?? 30,
        algorithms: options.algorithms ?? ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
      }));
    } catch (error) {
      throw joseToTokenError(error);
    }
    const claims = claimsOf(payload);
    const missing = required.filter((s) => !claims.scope.includes(s));
    if (missing.length) throw new TokenValidationError('scope', `The token lacks scope ${missing.join(' ')}`);
    return claims;
  };
}

/**
 * Verify a token once (a convenience over {@link createTokenVerifier}; keep a verifier to reuse its key cache).
 *
 * @example
 * ```ts
 * const claims = await verifyToken(token, { issuer, audience: 'rucio', jwks });
 * ```
 */
export function verifyToken(token: string, options: TokenVerifierOptions): Promise<TokenClaims> {
  return createTokenVerifier(options)(token);
}

const CLAIM_REASON: Record<string, TokenInvalidReason> = { iss: 'iss', aud: 'aud', nbf: 'nbf', iat: 'iat', exp: 'exp' };

function joseToTokenError(error: unknown): DlaasError {
  if (error instanceof DlaasError) return error;
  const e = error as { code?: string; claim?: string; payload?: JWTPayload; message?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return new TokenExpiredError(date(e.payload?.exp) ?? new Date(0), 'Token verification', { cause: error });
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return new TokenValidationError(CLAIM_REASON[e.claim ?? ''] ?? 'claim', `Token verification: claim "${e.claim ?? '?'}" check failed (${e.message ?? ''})`, { cause: error });
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new TokenValidationError('signature', 'Token verification: the signature does not match the issuer\'s key', { cause: error });
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new TokenValidationError('key', 'Token verification: no key of the issuer matches the token (unknown or retired key id)', { cause: error });
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new TokenValidationError('alg', 'Token verification: signature algorithm not accepted', { cause: error });
    case 'ERR_JWT_INVALID':
    case 'ERR_JWS_INVALID':
      return new TokenValidationError('malformed', 'Token verification: the token is not a valid JWS/JWT', { cause: error });
    default:
      return new TokenValidationError('jwks', 'Token verification: the issuer\'s keys could not be obtained', { cause: error });
  }
}
