/**
 * Who is calling, the way ESAP's stack decides it: DRF's authentication classes in ESAP's order
 * (knox `Token`, mozilla-django-oidc `Bearer` validated by one userinfo call per request, `Basic`),
 * Django sessions (cookie `sessionid`), mozilla-django-oidc's `SessionRefresh` middleware, and the
 * profile viewset's `get_queryset` (session tokens first, else the user's email).
 *
 * Web-standard APIs only.
 * @module
 */
import { base64 } from '../../esap/client.js';
import { HTML, JSON_TYPE, type Reply } from './django.js';
import { randomString, type EsapStore, type ProfileRecord, type SessionRecord, type UserinfoClaims } from './state.js';

/** Settings and hooks the views need. */
export interface EsapEnv {
  readonly store: EsapStore;
  readonly debug: boolean;
  readonly version: string;
  readonly oidc: { readonly issuer: string; readonly authorizationEndpoint: string; readonly clientId: string; readonly scope: string };
  now(): Date;
  /** The identity provider's userinfo for a bearer token (`undefined`: the IdP answers 401). */
  userinfo(token: string): Promise<UserinfoClaims | undefined>;
  /**
   * A request reached a point where tests may hold it: a promise to wait for, or nothing (so that a
   * request nobody holds runs without yielding, as atomically as before).
   */
  phase?(phase: 'received' | 'cart-deleted', request: Request): Promise<void> | undefined;
}

/** A DRF `AuthenticationFailed`: 401 with `WWW-Authenticate: Token`. */
export class AuthFailed extends Error {}

/** The request's Django user, as DRF sees it. */
export interface DjangoUser {
  readonly username: string;
  readonly email: string;
}

function b64decode(text: string): string | undefined {
  try {
    const bin = atob(text);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return bin; // DRF falls back to latin-1
    }
  } catch {
    return undefined;
  }
}

/** Base64url without padding (JWT segments). */
export function b64url(text: string): string {
  return base64(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * DRF `perform_authentication` with ESAP's classes, in order. Returns the user, or undefined for an
 * anonymous request.
 * @throws {@link AuthFailed} with DRF's message for invalid credentials.
 */
export async function authenticate(request: Request, env: EsapEnv): Promise<DjangoUser | undefined> {
  const parts = (request.headers.get('Authorization') ?? '').trim().split(/\s+/).filter(Boolean);
  const [scheme, credential] = parts;
  if (scheme === undefined) return undefined;
  const { store } = env;
  if (scheme === 'Token') {
    if (parts.length === 1) throw new AuthFailed('Invalid token header. No credentials provided.');
    if (parts.length > 2) throw new AuthFailed('Invalid token header. Token string should not contain spaces.');
    const user = [...store.users.values()].find((u) => u.knoxTokens.has(credential as string) && u.active);
    if (!user) throw new AuthFailed('Invalid token.');
    return user;
  }
  if (scheme.toLowerCase() === 'bearer') {
    if (parts.length === 1) throw new AuthFailed('Invalid "bearer" header: No credentials provided.');
    if (parts.length > 2) throw new AuthFailed('Invalid "bearer" header: Credentials string should not contain spaces.');
    const claims = await env.userinfo(credential as string);
    // What the IdP stub of the recordings puts in `WWW-Authenticate: Bearer error_description=…`.
    if (!claims) throw new AuthFailed(`Invalid access token: ${credential}`);
    if (typeof claims.email !== 'string' || !claims.email) throw new AuthFailed('Login failed: No user found for the given access token.');
    const users = store.usersByEmail(claims.email);
    if (users.length > 1) throw new AuthFailed('Login failed');
    if (users[0]) return users[0];
    // OIDC_CREATE_USER: mozilla-django-oidc creates the Django user on the fly (but no ESAP profile).
    const created = { username: `oidc-${claims.email}`, email: claims.email, password: undefined, knoxTokens: new Set<string>(), active: true };
    store.users.set(created.username, created);
    return created;
  }
  if (scheme.toLowerCase() === 'basic') {
    if (parts.length === 1) throw new AuthFailed('Invalid basic header. No credentials provided.');
    if (parts.length > 2) throw new AuthFailed('Invalid basic header. Credentials string should not contain spaces.');
    const decoded = b64decode(credential as string);
    if (decoded === undefined) throw new AuthFailed('Invalid basic header. Credentials not correctly base64 encoded.');
    const colon = decoded.indexOf(':');
    const username = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    const user = store.users.get(username);
    if (!user || user.password === undefined || user.password !== password) throw new AuthFailed('Invalid username/password.');
    if (!user.active) throw new AuthFailed('User inactive or deleted.');
    return user;
  }
  return undefined;
}

/** The Django session of the request (cookie `sessionid`), if it exists. */
export function sessionOf(request: Request, env: EsapEnv): SessionRecord | undefined {
  const cookie = request.headers.get('Cookie') ?? '';
  for (const part of cookie.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === 'sessionid') return env.store.sessions.get(value.join('='));
  }
  return undefined;
}

/**
 * mozilla-django-oidc `SessionRefresh` (GET only): a logged-in session whose ID token expired is
 * sent to the identity provider for a silent re-login (`prompt=none`): 403 JSON `{refresh_url}` for
 * XHR requests, else a 302. The session is saved (state and nonce), hence the `Set-Cookie`.
 */
export function sessionRefresh(request: Request, session: SessionRecord | undefined, env: EsapEnv): Reply | undefined {
  if (request.method !== 'GET' || !session?.username || !session.oidcBackend || !env.store.users.has(session.username)) return undefined;
  const now = env.now().getTime() / 1000;
  if ((session.oidc_id_token_expiration ?? 0) > now) return undefined;
  const url = new URL(request.url);
  const q = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const params: [string, string][] = [
    ['response_type', 'code'],
    ['client_id', env.oidc.clientId],
    ['redirect_uri', `${url.origin}/esap-api/oidc/callback/`],
    ['state', randomString(32)],
    ['scope', env.oidc.scope],
    ['prompt', 'none'],
    ['nonce', randomString(32)],
  ];
  const refreshUrl = `${env.oidc.authorizationEndpoint}?${params.map(([k, v]) => `${k}=${q(v)}`).join('&')}`;
  const expires = new Date(env.now().getTime() + 1209600_000).toUTCString();
  const cookie: [string, string] = ['Set-Cookie', `sessionid=${session.key}; expires=${expires}; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax`];
  if (request.headers.get('X-Requested-With') === 'XMLHttpRequest') {
    const body = `{"refresh_url": ${JSON.stringify(refreshUrl)}}`;
    return { status: 403, body, contentType: JSON_TYPE, kind: 'refresh', headers: [['refresh_url', refreshUrl], cookie] };
  }
  return { status: 302, body: '', contentType: HTML, kind: 'refresh', headers: [['Location', refreshUrl], cookie] };
}

function jwtPayload(token: string): Record<string, unknown> {
  const part = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))) as Record<string, unknown>;
}

/** `datetime.utcfromtimestamp(t).strftime('%Y-%m-%dT%H:%M:%SZ')`. */
export function utcSeconds(epochSeconds: number): string {
  return `${new Date(Math.floor(epochSeconds) * 1000).toISOString().slice(0, 19)}Z`;
}

/** The uid ESAP gives a profile: `<issuer host>:userinfo:<sub>`. */
export function profileUid(issuer: string, sub: string): string {
  let host = '';
  try {
    host = new URL(issuer).host;
  } catch {
    /* urlparse of a scheme-less issuer has an empty netloc */
  }
  return `${host}:userinfo:${sub}`;
}

/**
 * `EsapUserProfileViewSet.get_queryset`: with OIDC tokens in the session, the profiles whose uid
 * matches the ID token (and the session's tokens are written into them); otherwise the profiles
 * whose `user_email` equals the DRF user's email; nothing for anonymous callers.
 */
export function profileQueryset(session: SessionRecord | undefined, user: DjangoUser | undefined, env: EsapEnv): ProfileRecord[] {
  const { store } = env;
  try {
    const idToken = session?.oidc_id_token;
    const accessToken = session?.oidc_access_token;
    const expiration = session?.oidc_id_token_expiration;
    if (idToken === undefined || accessToken === undefined || expiration === undefined) throw new Error('KeyError');
    const payload = jwtPayload(idToken);
    if (typeof payload.iss !== 'string' || payload.sub === undefined || payload.aud === undefined) throw new Error('KeyError');
    const uid = profileUid(payload.iss, String(payload.sub));
    const found = [...store.profiles.values()].filter((p) => p.uid === uid);
    for (const p of found) {
      p.oidc_id_token = idToken;
      p.oidc_access_token = accessToken;
      p.id_token_expiration = utcSeconds(expiration);
    }
    return found;
  } catch {
    if (!user) return [];
    return [...store.profiles.values()].filter((p) => p.user_email === user.email);
  }
}

/** DRF's serialisation of a profile (field order of `EsapUserProfileSerializer.Meta.fields`). */
export function profileData(p: ProfileRecord, store: EsapStore): Record<string, unknown> {
  return {
    user_name: p.user_name,
    full_name: p.full_name,
    user_email: p.user_email,
    oidc_id_token: p.oidc_id_token,
    oidc_access_token: p.oidc_access_token,
    id_token_expiration: p.id_token_expiration,
    query_schema: null,
    software_repositories: [],
    compute_resources: [],
    shopping_cart: store.cart(p.user_name).map((i) => ({ item_data: i.item_data, user_profile: i.user_profile })),
  };
}
