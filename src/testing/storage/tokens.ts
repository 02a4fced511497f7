/**
 * WLCG-profile JWT bearer tokens for tests: a tiny issuer that mints them and a verifier that checks
 * them the way XRootD's SciTokens plugin does (signature against the issuer's JWKS, `iss`, `aud`,
 * `exp`/`nbf`, a `wlcg.ver` claim) and reads the storage scopes.
 *
 * Web-standard APIs only (jose on WebCrypto): runs in browsers, workers, Deno, Bun and Node.
 * @module
 */
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';

/** Read, create and modify everywhere: what a full-access Data Lake token carries. */
export const FULL_STORAGE_SCOPE = 'storage.read:/ storage.create:/ storage.modify:/';
/** The WLCG "any audience" value every storage element accepts. */
export const WLCG_ANY_AUDIENCE = 'https://wlcg.cern.ch/jwt/v1/any';

/** Claims and tricks for {@link WlcgTokenIssuer.mintToken}. Times are seconds since the epoch. */
export interface MintTokenOptions {
  /** Space-separated scopes; default {@link FULL_STORAGE_SCOPE}. */
  scope?: string;
  /** Default `dlaas-test-user`. */
  sub?: string;
  /** Default the issuer's default audience. */
  aud?: string | string[];
  /** Default the issuer's URL (set another to mint a token of an unknown issuer). */
  iss?: string;
  /** Default now. */
  iat?: number;
  /** Default now. */
  nbf?: number;
  /** Default now + `expiresIn`. */
  exp?: number;
  /** Lifetime when `exp` is not given; default 600 s. */
  expiresIn?: number;
  /** Leave out the `wlcg.ver` claim (XRootD then rejects the token). */
  omitWlcgVer?: boolean;
  /** Extra or overriding claims (e.g. `wlcg.groups`). */
  claims?: Record<string, unknown>;
  /** Sign with a key the issuer does not publish (same `kid`): a forged signature. */
  forgeSignature?: boolean;
}

/** Mints WLCG tokens and publishes the matching OpenID configuration and JWKS. */
export interface WlcgTokenIssuer {
  /** The `iss` value, e.g. `https://localhost:4443` (no trailing slash). */
  readonly issuer: string;
  /** The default `aud` of minted tokens. */
  audience: string;
  /** The public keys, as served at `jwks_uri`. */
  readonly jwks: JSONWebKeySet;
  /** `/.well-known/openid-configuration` for this issuer. */
  readonly openidConfiguration: { issuer: string; jwks_uri: string };
  /** Sign a WLCG token (default: full storage scope, valid 600 s). */
  mintToken(options?: MintTokenOptions): Promise<string>;
}

/** Options of {@link createWlcgTokenIssuer}. */
export interface WlcgTokenIssuerOptions {
  /** Issuer URL; default `https://issuer.dlaas.test`. */
  issuer?: string;
  /** Default audience of minted tokens; default {@link WLCG_ANY_AUDIENCE}. */
  audience?: string;
  /** Signature algorithm; default RS256 (what scitokens-cpp is known to accept). */
  alg?: 'RS256' | 'ES256';
  /** Key id; default `dlaas-test-key-1`. */
  kid?: string;
  /** Current time in ms; default `Date.now`. */
  now?: () => number;
}

/** Create a token issuer with a fresh key pair. */
export async function createWlcgTokenIssuer(options: WlcgTokenIssuerOptions = {}): Promise<WlcgTokenIssuer> {
  const issuer = (options.issuer ?? 'https://issuer.dlaas.test').replace(/\/+$/, '');
  const alg = options.alg ?? 'RS256';
  const kid = options.kid ?? 'dlaas-test-key-1';
  const now = options.now ?? Date.now;
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  let forger: CryptoKey | undefined;
  const pub: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [pub] };
  const self: WlcgTokenIssuer = {
    issuer,
    audience: options.audience ?? WLCG_ANY_AUDIENCE,
    jwks,
    openidConfiguration: { issuer, jwks_uri: `${issuer}/jwks` },
    async mintToken(o: MintTokenOptions = {}) {
      const t = Math.floor(now() / 1000);
      const payload: JWTPayload = {
        iss: o.iss ?? issuer,
        sub: o.sub ?? 'dlaas-test-user',
        aud: o.aud ?? self.audience,
        iat: o.iat ?? t,
        nbf: o.nbf ?? t,
        exp: o.exp ?? t + (o.expiresIn ?? 600),
        jti: crypto.randomUUID(),
        scope: o.scope ?? FULL_STORAGE_SCOPE,
        ...(o.omitWlcgVer ? {} : { 'wlcg.ver': '1.0' }),
        ...o.claims,
      };
      let key: CryptoKey = privateKey;
      if (o.forgeSignature) key = forger ??= (await generateKeyPair(alg)).privateKey;
      return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
    },
  };
  return self;
}

/** What a verified token allows: its `storage.*` scopes, e.g. `storage.read:/data`. */
export interface TokenGrant {
  scopes: string[];
  sub?: string;
}

/** Options of {@link createWlcgTokenVerifier}. */
export interface WlcgTokenVerifierOptions {
  /** Accepted issuer URL (exact `iss`). */
  issuer: string;
  /** The issuer's public keys. */
  jwks: JSONWebKeySet;
  /** Accepted audiences (besides {@link WLCG_ANY_AUDIENCE}); a function is re-read on every call. */
  audience: string | readonly string[] | (() => string | readonly string[]);
  /** Current time in ms; default `Date.now`. */
  now?: () => number;
}

/**
 * A verifier as XRootD's SciTokens plugin applies it: any failure (bad signature, unknown issuer,
 * wrong audience, expired, not yet valid, no `wlcg.ver`) gives `undefined`, i.e. a 403.
 */
export function createWlcgTokenVerifier(options: WlcgTokenVerifierOptions): (token: string) => Promise<TokenGrant | undefined> {
  const keys = createLocalJWKSet(options.jwks);
  const issuer = options.issuer.replace(/\/+$/, '');
  return async (token) => {
    const aud = typeof options.audience === 'function' ? options.audience() : options.audience;
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer,
        audience: [...(typeof aud === 'string' ? [aud] : aud), WLCG_ANY_AUDIENCE],
        requiredClaims: ['exp'],
        currentDate: new Date((options.now ?? Date.now)()),
      });
      if (payload['wlcg.ver'] === undefined) return undefined;
      const scope = typeof payload.scope === 'string' ? payload.scope : '';
      return { scopes: scope.split(' ').filter(Boolean), ...(payload.sub === undefined ? {} : { sub: payload.sub }) };
    } catch {
      return undefined;
    }
  };
}
