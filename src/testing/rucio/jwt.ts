/**
 * How a Rucio server accepts a JWT from an OpenID Provider as `X-Rucio-Auth-Token` (rucio-rest.md
 * §1.4; `validate_auth_token` / `validate_jwt` in Rucio): an unknown token with three parts is read
 * without verification; an `exp` in the past is refused; `iss` must be a configured issuer (exact
 * string, trailing slash included); the signature is checked against that issuer's keys; every
 * expected audience and scope item must be present (`openid profile`, `rucio` by default); the
 * identity `SUB=<sub>, ISS=<iss>` must be mapped to an account. Anything else → `undefined`, which
 * the emulator answers with 401 `CannotAuthenticate`.
 *
 * Self-contained (jose only) so the emulator can call it from its token check.
 * @module
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';

/**
 * An issuer the emulated server trusts (Rucio: a key of `[oidc] idpsecrets`).
 *
 * @example
 * ```ts
 * const iam: JwtIssuerConfig = { issuer: 'https://iam-escape.cloud.cnaf.infn.it/', jwksUri: 'https://iam-escape.cloud.cnaf.infn.it/jwk' };
 * ```
 *
 * @example
 * ```ts
 * const issuer: JwtIssuerConfig = { issuer: op.issuer, jwks: op.jwks };
 * ```
 */
export interface JwtIssuerConfig {
  /** The issuer, exactly as in `iss`. */
  issuer: string;
  /** Its public keys. */
  jwks?: JSONWebKeySet | undefined;
  /** Where to fetch them (used when `jwks` is not given). */
  jwksUri?: string | URL | undefined;
  /** Fetch for `jwksUri`. */
  fetch?: typeof fetch | undefined;
}

/**
 * Options of {@link createJwtValidator}.
 *
 * @example
 * ```ts
 * const acceptJwt = createJwtValidator({ issuers: [{ issuer, jwksUri }], expectedScope: 'openid profile', identities: (id) => accounts.get(id) });
 * ```
 */
export interface JwtValidatorOptions {
  /** Trusted issuers. */
  issuers: readonly JwtIssuerConfig[];
  /** `[oidc] expected_audience` (default `rucio`); every space-separated item must be in `aud`. */
  expectedAudience?: string | undefined;
  /** `[oidc] expected_scope` (default `openid profile`); every item must be in `scope`. */
  expectedScope?: string | undefined;
  /** OIDC identities (`SUB=<sub>, ISS=<iss>`) → account, or a function doing the lookup. */
  identities: ReadonlyMap<string, string> | ((identity: string) => string | undefined);
  /** Clock (default `() => new Date()`). */
  now?: (() => Date) | undefined;
}

/**
 * What an accepted JWT maps to (the fields of the server's token row).
 *
 * @example
 * ```ts
 * const ok: JwtAcceptance | undefined = await acceptJwt(token);
 * if (ok) console.log(ok.account, ok.identity);
 * ```
 */
export interface JwtAcceptance {
  token: string;
  account: string;
  /** `SUB=<sub>, ISS=<iss>`. */
  identity: string;
  /** From `exp`. */
  expiresAt: Date;
  /** `aud`, space-joined. */
  audience: string;
  /** `scope`, space-joined. */
  scope: string;
}

/**
 * Checks a token; `undefined` = not an acceptable JWT.
 *
 * @example
 * ```ts
 * const acceptJwt: JwtValidator = createJwtValidator({ issuers, identities });
 * ```
 */
export type JwtValidator = (token: string) => Promise<JwtAcceptance | undefined>;

/**
 * The OIDC identity string Rucio maps to accounts.
 *
 * @example
 * ```ts
 * oidcIdentity('a1b2', 'https://iam-escape.cloud.cnaf.infn.it/'); // 'SUB=a1b2, ISS=https://iam-escape.cloud.cnaf.infn.it/'
 * ```
 */
export function oidcIdentity(sub: string, iss: string): string {
  return `SUB=${sub}, ISS=${iss}`;
}

/** `val_to_space_sep_str`: a list is joined with spaces. */
function spaceSeparated(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(' ');
  return undefined;
}

/** `all_oidc_req_claims_present`: every required item appears in the claim. */
function allPresent(claim: string, required: string): boolean {
  const have = new Set(claim.split(' '));
  return required.split(' ').filter(Boolean).every((r) => have.has(r));
}

/**
 * Build the JWT check of the emulated Rucio server.
 *
 * @example
 * ```ts
 * const acceptJwt = createJwtValidator({
 *   issuers: [{ issuer: op.issuer, jwks: op.jwks }],
 *   identities: new Map([[oidcIdentity('alice', op.issuer), 'alice']]),
 * });
 * const ok = await acceptJwt(token); // { account: 'alice', identity: 'SUB=alice, ISS=…', expiresAt, … } or undefined
 * ```
 */
export function createJwtValidator(options: JwtValidatorOptions): JwtValidator {
  const audience = options.expectedAudience ?? 'rucio';
  const scope = options.expectedScope ?? 'openid profile';
  const now = options.now ?? (() => new Date());
  const lookup = typeof options.identities === 'function' ? options.identities : (id: string) => (options.identities as ReadonlyMap<string, string>).get(id);
  const keys = new Map<string, JWTVerifyGetKey>();
  for (const cfg of options.issuers) {
    if (cfg.jwks) keys.set(cfg.issuer, createLocalJWKSet(cfg.jwks));
    else if (cfg.jwksUri) {
      const f = cfg.fetch;
      keys.set(cfg.issuer, createRemoteJWKSet(new URL(String(cfg.jwksUri)), f ? { [customFetch]: (url: string, init: RequestInit) => f(url, init) } : {}));
    } else throw new Error(`createJwtValidator: issuer ${cfg.issuer} needs jwks or jwksUri`);
  }
  return async (token) => {
    if (typeof token !== 'string' || token.split('.').length !== 3) return undefined;
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      return undefined;
    }
    const { sub, iss, exp } = claims;
    if (typeof sub !== 'string' || typeof iss !== 'string' || typeof exp !== 'number') return undefined;
    const at = now();
    if (exp * 1000 <= at.getTime()) return undefined;
    const keySet = keys.get(iss); // exact issuer string, trailing slash included
    if (!keySet) return undefined;
    try {
      await jwtVerify(token, keySet, { issuer: iss, currentDate: at });
    } catch {
      return undefined;
    }
    const tokenScope = spaceSeparated(claims.scope);
    const tokenAudience = spaceSeparated(claims.aud);
    // The real server asks the issuer's introspection endpoint for missing claims; the emulator refuses.
    if (tokenScope === undefined || tokenAudience === undefined) return undefined;
    if (!allPresent(tokenScope, scope) || !allPresent(tokenAudience, audience)) return undefined;
    const identity = oidcIdentity(sub, iss);
    const account = lookup(identity);
    if (!account) return undefined;
    return { token, account, identity, expiresAt: new Date(exp * 1000), audience: tokenAudience, scope: tokenScope };
  };
}
