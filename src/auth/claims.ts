/**
 * JWT claims: decode (no verification) to read `exp`, `aud`, `scope`, `wlcg.groups`; check what a
 * target expects (Rucio: audience `rucio`, scope ⊇ `openid profile`) as non-fatal warnings. Full
 * verification against the issuer's JWKS is in ./verify.ts. Built on jose.
 * @module
 */
import type { JWTPayload } from 'jose';
// jose's own modules, not its entry: reading claims loads only the decoders (verification: ./verify.ts).
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import { decodeJwt } from 'jose/jwt/decode';
import { TokenValidationError, TokenWarning } from './errors.js';

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

/** @internal Three base64url parts (the last may be empty). */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** @internal A claim's items: a space-separated string or a list of them. */
export function items(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string').flatMap((v) => v.split(/\s+/)).filter(Boolean);
  return [];
}

/** @internal A NumericDate claim as a `Date`. */
export function date(seconds: unknown): Date | undefined {
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
