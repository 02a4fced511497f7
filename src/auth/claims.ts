/**
 * JWT claims: decode (no verification) to read `exp`, `aud`, `scope`, `wlcg.groups`; check what a
 * target expects (Rucio: audience `rucio`, scope ⊇ `openid profile`) as non-fatal warnings; and
 * verify fully against the issuer's JWKS (signature, `iss`, `aud`, `exp`/`nbf` with clock tolerance).
 * Built on jose.
 * @module
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { DlaasError } from '../core/errors.js';
import { TokenExpiredError, TokenValidationError, TokenWarning, type TokenInvalidReason } from './errors.js';
import { assertSecureUrl, secureFetch, type AuthHttpOptions } from './http.js';
import { discoverIssuer } from './oidc/discovery.js';

/**
 * The claims of a JWT access token, normalised: list-valued `aud` and `scope`, dates as `Date`.
 *
 * @example
 * ```ts
 * const c = decodeToken(token);
 * console.log(c.sub, c.aud, c.scope, c.groups, c.exp?.toISOString());
 * ```
 */
export interface TokenClaims {
  /** Issuer. */
  readonly iss: string | undefined;
  /** Subject. */
  readonly sub: string | undefined;
  /** Audiences (`aud`, always a list). */
  readonly aud: readonly string[];
  /** Scopes (`scope` split on spaces, or `scp`). */
  readonly scope: readonly string[];
  /** WLCG groups (`wlcg.groups`), e.g. `['/escape']`. */
  readonly groups: readonly string[];
  /** Expiry. */
  readonly exp: Date | undefined;
  /** Not before. */
  readonly nbf: Date | undefined;
  /** Issued at. */
  readonly iat: Date | undefined;
  /** OAuth client (`client_id` or `azp`). */
  readonly clientId: string | undefined;
  /** Every claim as decoded. */
  readonly payload: JWTPayload;
}

/**
 * What a token must carry for its target. Every listed audience and scope item must be present.
 *
 * @example
 * ```ts
 * const esapAndRucio: TokenRequirements = { audience: 'rucio', scope: ['openid', 'profile', 'email'] };
 * ```
 */
export interface TokenRequirements {
  /** Audience item(s) that must appear in `aud`. */
  audience?: string | readonly string[] | undefined;
  /** Scope item(s) that must appear in `scope`. */
  scope?: string | readonly string[] | undefined;
}

/**
 * What the Rucio server expects of an OIDC token (`[oidc] expected_audience` / `expected_scope` defaults).
 *
 * @example
 * ```ts
 * const warnings = checkToken(token, RUCIO_TOKEN);
 * ```
 */
export const RUCIO_TOKEN: Readonly<TokenRequirements> = Object.freeze({ audience: 'rucio', scope: 'openid profile' });

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function items(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string').flatMap((v) => v.split(/\s+/)).filter(Boolean);
  return [];
}

function date(seconds: unknown): Date | undefined {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined;
}

/** @internal Normalise a payload. */
export function claimsOf(payload: JWTPayload): TokenClaims {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    iss: str(payload.iss),
    sub: str(payload.sub),
    aud: items(payload.aud),
    scope: items(payload.scope ?? payload.scp),
    groups: items(payload['wlcg.groups']),
    exp: date(payload.exp),
    nbf: date(payload.nbf),
    iat: date(payload.iat),
    clientId: str(payload.client_id) ?? str(payload.azp),
    payload,
  };
}

/**
 * Is this a JWT (three base64url parts whose header and payload decode)? Rucio's own tokens are not.
 *
 * @example
 * ```ts
 * isJwt(token) ? decodeToken(token).exp : undefined;
 * ```
 */
export function isJwt(token: string): boolean {
  if (typeof token !== 'string' || !JWT_SHAPE.test(token)) return false;
  try {
    decodeProtectedHeader(token);
    decodeJwt(token);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decode a JWT's claims **without verifying** it (for display and expiry; use
 * {@link createTokenVerifier} to trust it). Throws {@link TokenValidationError} (`malformed`).
 *
 * @example
 * ```ts
 * const { exp, aud, scope, groups } = decodeToken(process.env.RUCIO_ACCESS_TOKEN!);
 * ```
 */
export function decodeToken(token: string): TokenClaims {
  if (typeof token !== 'string' || !JWT_SHAPE.test(token)) throw new TokenValidationError('malformed', 'The token is not a JWT (expected three base64url parts)');
  try {
    return claimsOf(decodeJwt(token));
  } catch (cause) {
    throw new TokenValidationError('malformed', 'The token is not a decodable JWT', { cause });
  }
}

/**
 * The expiry of a JWT, or `undefined` for tokens that are not JWTs (e.g. Rucio's own) or have no `exp`.
 *
 * @example
 * ```ts
 * const expiresAt = tokenExpiry(token);
 * ```
 */
export function tokenExpiry(token: string): Date | undefined {
  return isJwt(token) ? decodeToken(token).exp : undefined;
}

/**
 * Check a token against what its target expects, returning non-fatal {@link TokenWarning}s (no
 * warning for tokens that are not JWTs: Rucio's own tokens carry no claims).
 *
 * @example
 * ```ts
 * for (const w of checkToken(token, RUCIO_TOKEN)) console.warn(w.message); // e.g. lacks audience "rucio"
 * ```
 */
export function checkToken(token: string, expect: TokenRequirements = RUCIO_TOKEN, options: { now?: number } = {}): TokenWarning[] {
  if (!isJwt(token)) return [];
  const c = decodeToken(token);
  const out: TokenWarning[] = [];
  const needAud = items(expect.audience).filter((a) => !c.aud.includes(a));
  if (needAud.length) out.push(new TokenWarning('aud', `The token lacks audience ${needAud.map((a) => JSON.stringify(a)).join(', ')} (has ${c.aud.length ? c.aud.join(' ') : 'none'}); its target may reject it`));
  const needScope = items(expect.scope).filter((s) => !c.scope.includes(s));
  if (needScope.length) out.push(new TokenWarning('scope', `The token lacks scope ${needScope.join(' ')} (has ${c.scope.length ? c.scope.join(' ') : 'none'}); its target may reject it`));
  const now = options.now ?? Date.now();
  if (c.exp && c.exp.getTime() <= now) out.push(new TokenWarning('exp', `The token expired at ${c.exp.toISOString()}`));
  return out;
}

/**
 * The default warning handler: `console.warn`.
 *
 * @example
 * ```ts
 * const token = staticToken(jwt, { expect: RUCIO_TOKEN, onWarning: defaultOnWarning });
 * ```
 */
export function defaultOnWarning(warning: TokenWarning): void {
  console.warn(`dlaas: ${warning.message}`);
}

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
