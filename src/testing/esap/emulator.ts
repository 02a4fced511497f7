/**
 * The in-memory ESAP API gateway: a fetch-style handler answering like the recorded ESAP server
 * (profiles, the paginated wrapper, double-encoded `item_data`, whole-list PATCH with its
 * wipe-then-500, DRF validation errors, Basic/knox/bearer/session auth, CORS), usable through msw,
 * an injected `fetch`, or a loopback HTTP server, plus seeding and inspection for tests.
 *
 * It serves `/esap-api/…` only, so it can share one server with the Rucio emulator: route requests
 * whose path {@link EsapEmulator.serves} to {@link EsapEmulator.handle}.
 *
 * Races are made deterministic with {@link EsapEmulator.hold} (or the lower-level
 * {@link EsapEmulator.onRequest}): hold requests when they arrive, or a basket PATCH between deleting
 * the old items and creating the new ones, and release them in the order the test wants.
 * @module
 */
// `msw/http`, not `msw`: the `msw` index also loads its WebSocket support, whose module-level
// BroadcastChannel is unref'd only on Node and would keep a Deno program importing dlaas/testing alive.
import { http } from 'msw/http';
import type { RequestHandler } from 'msw';
import { FetchEmulator, type FetchEmulatorApi } from '../fetch-emulator.js';
import { b64url, profileUid, type EsapEnv } from './auth.js';
import { toResponse } from './django.js';
import { drfJson, PyFloat, toPy, type PyValue } from './python.js';
import { EsapStore, randomString, type UserinfoClaims } from './state.js';
import { esapRoute } from './views.js';

/**
 * How the emulated gateway validates bearer tokens (the real one calls its IdP's userinfo endpoint).
 *
 * @example
 * ```ts
 * createEsapEmulator({ userinfo: { 'alice-token': 'alice@example.org' } });
 * createEsapEmulator({ userinfo: (token) => (token.startsWith('ey') ? { sub: '1', email: 'jwt@example.org' } : undefined) });
 * ```
 */
export type UserinfoSource =
  /** Token → claims (`undefined`: the IdP rejects the token). */
  | ((token: string) => UserinfoClaims | undefined | Promise<UserinfoClaims | undefined>)
  /** Token → email. */
  | Readonly<Record<string, string>>
  /** A real userinfo endpoint, called with `Authorization: Bearer <token>` (e.g. an OIDC emulator). */
  | URL;

/**
 * Options of {@link createEsapEmulator}.
 *
 * @example
 * ```ts
 * const esap = createEsapEmulator({ baseUrl: 'https://esap.test', now: () => new Date('2026-11-25T09:32:56Z') });
 * ```
 */
export interface EsapEmulatorOptions {
  /** Origin of the msw handlers and of the injected `fetch` (default `https://esap.emulator.test`). */
  baseUrl?: string | URL;
  /** Bearer-token validation, consulted before the tokens given to {@link EsapEmulator.addUser}. */
  userinfo?: UserinfoSource;
  /** The OIDC client ESAP is registered as (issuer for profile uids, session refresh redirects). */
  oidc?: { issuer?: string; authorizationEndpoint?: string; clientId?: string; scope?: string };
  /** Clock (session expiry). Default: the real time. */
  now?: () => Date;
  /** Django `DEBUG` (technical 500/404 pages, as in `esap.settings.docker`); default true. */
  debug?: boolean;
  /** `API_VERSION` shown in the paginated wrapper. */
  version?: string;
  /** `fetch` for a URL {@link userinfo} (default the global one). */
  fetch?: typeof fetch;
}

/**
 * A user to seed: a Django user (Basic, knox), IAM tokens mapped to its email, and its ESAP profile.
 *
 * @example
 * ```ts
 * esap.addUser({ user_name: 'alice', email: 'alice@example.org', password: 'pw', tokens: ['alice-token'], items: [{ archive: 'zenodo', record: {} }] });
 * esap.addUser({ user_name: 'bob', email: 'bob@example.org', profile: false });
 * ```
 */
export interface EsapUserSeed {
  /** Profile `user_name` and Django username. */
  user_name: string;
  /** Email of the Django user and of the profile (`user_email`). */
  email: string;
  full_name?: string | null;
  /** Password for HTTP Basic. */
  password?: string;
  /** IAM access tokens whose userinfo answers this email (bearer auth). */
  tokens?: readonly string[];
  /** knox tokens (`Authorization: Token …`). */
  knoxTokens?: readonly string[];
  /** Create the ESAP profile (default true; `false` for a Django user without profile). */
  profile?: boolean;
  /** OIDC subject (the profile's uid is `<issuer host>:userinfo:<sub>`); default `<user_name>-sub`. */
  sub?: string;
  /** Initial basket (bare items, stored as a GUI PATCH would). */
  items?: readonly unknown[];
}

/**
 * A browser session to seed, as mozilla-django-oidc stores it at login.
 *
 * @example
 * ```ts
 * const sid = esap.createSession('alice', { expiresAt: new Date(Date.now() - 1000) }); // an expired session
 * await fetch(`${url}/esap-api/accounts/user-profiles/`, { headers: { Cookie: `sessionid=${sid}` } }); // 302 to the IdP
 * ```
 */
export interface EsapSessionSeed {
  /** The `sessionid` cookie value (default: random). */
  sessionid?: string;
  /** `oidc_access_token` (default: a random one, also valid as bearer token for the user). */
  accessToken?: string;
  /** `oidc_id_token` (default: an unsigned JWT with the issuer, the user's sub, `iat` and `exp`). */
  idToken?: string;
  /** ID token expiry, `oidc_id_token_expiration` (default: an hour after `issuedAt`). */
  expiresAt?: Date | number;
  /** ID token `iat` (default: now). */
  issuedAt?: Date | number;
  /** Log in through OIDC, with tokens in the session (default true; false: a non-OIDC login, e.g. Django admin, without tokens). */
  oidc?: boolean;
}

/**
 * One served request.
 *
 * @example
 * ```ts
 * expect(esap.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
 * ```
 */
export interface EsapRequestLogEntry {
  method: string;
  /** Path as sent, without the query. */
  path: string;
  status: number;
}

/**
 * Where a request can be held: `received`, before the emulated server looks at it; `cart-deleted`, a
 * profile PATCH/PUT after it deleted the stored items and before it creates the new ones (where two
 * whole-basket writes interleave on the real server: both delete, then both create).
 *
 * @example
 * ```ts
 * const phase: EsapRequestPhase = 'cart-deleted'; // hold both PATCHes here to get the real server's duplicated basket
 * ```
 */
export type EsapRequestPhase = 'received' | 'cart-deleted';

/**
 * A request reaching a {@link EsapRequestPhase}.
 *
 * @example
 * ```ts
 * esap.onRequest((e) => console.log(e.phase, e.method, e.path));
 * ```
 */
export interface EsapRequestEvent {
  readonly phase: EsapRequestPhase;
  readonly method: string;
  /** Path as sent, without the query. */
  readonly path: string;
  /**
   * The request, the same object in every phase. The server reads its body: look at it with
   * `request.clone()` in the `received` phase only.
   */
  readonly request: Request;
}

/**
 * Called for every request at every {@link EsapRequestPhase}; the request waits until a returned promise settles.
 *
 * @example
 * ```ts
 * const hook: EsapRequestHook = async (e) => { if (e.method === 'PATCH') await new Promise((r) => setTimeout(r, 50)); }; // a slow write
 * ```
 */
export type EsapRequestHook = (event: EsapRequestEvent) => void | Promise<void>;

/**
 * Which requests {@link EsapEmulator.hold} holds (all given conditions must match).
 *
 * @example
 * ```ts
 * const patches = esap.hold({ method: 'PATCH', phase: 'cart-deleted', limit: 2 });
 * ```
 */
export interface EsapHoldOptions {
  /** HTTP method, e.g. `PATCH`. */
  method?: string;
  /** The path: exactly this string, or matching this pattern. */
  path?: string | RegExp;
  /** Where to hold them (default `received`). */
  phase?: EsapRequestPhase;
  /** Hold at most this many; later matching requests pass (default: no limit). */
  limit?: number;
  /** Any further condition (e.g. on `request.headers`). */
  match?: (event: EsapRequestEvent) => boolean;
}

/**
 * Requests held by {@link EsapEmulator.hold}, released one by one in any order.
 *
 * @example
 * ```ts
 * const patches = esap.hold({ method: 'PATCH', limit: 2 });
 * const writes = [clientA.basket.add(a), clientB.basket.add(b)];
 * await patches.arrived(2);   // both clients have read the basket and sent their PATCH
 * await patches.release(1);   // the second one is written and answered first…
 * await patches.release(0);   // …then the first one overwrites it
 * await Promise.all(writes);
 * ```
 */
export interface EsapHold {
  /** Every request held so far, in arrival order (released ones included): `release(i)` refers to `held[i]`. */
  readonly held: readonly EsapRequestEvent[];
  /** Resolves once `count` requests (default 1) have been held. */
  arrived(count?: number): Promise<void>;
  /** Let `held[index]` go on; resolves once the emulator has answered it. */
  release(index: number): Promise<void>;
  /** Let every held request go on, hold no more, and resolve once all held ones are answered. */
  releaseAll(): Promise<void>;
}

/**
 * A read-only view of the emulated database (values as stored).
 *
 * @example
 * ```ts
 * expect(esap.rawStore.items.map((i) => i.item_data)).toEqual(['{"archive": "rucio", "record": {"scope": "s", "name": "n"}}']);
 * ```
 */
export interface EsapRawStore {
  readonly users: readonly { username: string; email: string; hasPassword: boolean }[];
  readonly profiles: readonly { user_name: string; full_name: string | null; user_email: string; uid: string | null; oidc_id_token: string | null; oidc_access_token: string | null; id_token_expiration: string | null }[];
  /** `EsapShoppingItem` rows: `item_data` as stored (a JSON string, for anything written through the profile API). */
  readonly items: readonly { id: number; item_data: unknown; user_profile: string | null }[];
  readonly sessions: readonly { sessionid: string; username: string | undefined; expiresAt: number | undefined }[];
}

/**
 * The emulator returned by {@link createEsapEmulator}.
 *
 * @example
 * ```ts
 * const esap = createEsapEmulator();
 * const server = await serveFetch((r) => (esap.serves(r) ? esap.handle(r) : rucio.handle(r))); // one server for both
 * ```
 */
export interface EsapEmulator extends FetchEmulatorApi {
  /** Path prefixes it serves (`/esap-api/`), for sharing a server with other emulators. */
  readonly paths: readonly string[];
  /** True when a request (or URL) is for this emulator's paths. */
  serves(request: Request | URL | string): boolean;
  /** msw handlers for `baseUrl`'s `/esap-api/` paths only. */
  handlers(): RequestHandler[];
  /** Seed a user (Django user + profile + tokens + basket). */
  addUser(seed: EsapUserSeed): void;
  /** Make the IdP's userinfo answer `claims` for `token` (an identity without Django user, like a new IAM user). */
  addIdentity(token: string, claims: UserinfoClaims): void;
  /** Replace a basket the way a GUI PATCH does: each item stored as Python `json.dumps(item)`. */
  setBasket(userName: string, items: readonly unknown[]): void;
  /** Replace a basket with `item_data` values stored verbatim (malformed baskets: non-JSON strings, objects, …). */
  setRawBasket(userName: string, itemData: readonly unknown[]): void;
  /** The stored `item_data` of a basket, verbatim (strings for anything written through the API). */
  itemData(userName: string): unknown[];
  /** The basket's items, each `item_data` parsed with `JSON.parse` (for assertions). */
  basket(userName: string): unknown[];
  /** Create a logged-in browser session for a user; returns the `sessionid` cookie value. */
  createSession(userName: string, seed?: EsapSessionSeed): string;
  /** The database, as stored. */
  readonly rawStore: EsapRawStore;
  /** The userinfo calls the gateway made (one per bearer request: no caching), in order. */
  readonly userinfoCalls: readonly { token: string }[];
  /** Every request served, in order. */
  readonly requests: readonly EsapRequestLogEntry[];
  /** Clear {@link requests} and {@link userinfoCalls}. */
  resetLog(): void;
  /** Call `hook` for every request at every {@link EsapRequestPhase}; returns a function that removes it. */
  onRequest(hook: EsapRequestHook): () => void;
  /**
   * Hold matching requests at a phase until the test releases them (deterministic races: two clients'
   * PATCHes held until both have read, then released in a chosen order). See {@link EsapHold}.
   */
  hold(options?: EsapHoldOptions): EsapHold;
}

const seconds = (t: Date | number) => (t instanceof Date ? Math.floor(t.getTime() / 1000) : t);

/** A stored value back as a JS value (Python strings stay strings). */
function fromPy(v: PyValue): unknown {
  return typeof v === 'string' ? v : JSON.parse(drfJson(v instanceof PyFloat ? v.value : v));
}

class Emulator extends FetchEmulator implements EsapEmulator, EsapEnv {
  readonly store = new EsapStore();
  readonly paths = Object.freeze(['/esap-api/']);
  readonly debug: boolean;
  readonly version: string;
  readonly oidc: EsapEnv['oidc'];
  readonly userinfoCalls: { token: string }[] = [];
  readonly requests: EsapRequestLogEntry[] = [];
  readonly #options: EsapEmulatorOptions;
  readonly #hooks = new Set<EsapRequestHook>();
  readonly #answered = new WeakMap<Request, Promise<void>>();

  constructor(options: EsapEmulatorOptions) {
    super(String(options.baseUrl ?? 'https://esap.emulator.test'));
    this.#options = options;
    this.debug = options.debug ?? true;
    this.version = options.version ?? 'ESAP-API version 12 aug 2021';
    const issuer = options.oidc?.issuer ?? 'https://iam.emulator.test/';
    this.oidc = {
      issuer,
      authorizationEndpoint: options.oidc?.authorizationEndpoint ?? `${issuer.replace(/\/+$/, '')}/authorize`,
      clientId: options.oidc?.clientId ?? 'esap-emulator',
      scope: options.oidc?.scope ?? 'openid email profile',
    };
  }

  now(): Date {
    return this.#options.now?.() ?? new Date();
  }

  async userinfo(token: string): Promise<UserinfoClaims | undefined> {
    this.userinfoCalls.push({ token });
    const source = this.#options.userinfo;
    if (typeof source === 'function') {
      const claims = await source(token);
      if (claims) return claims;
    } else if (source instanceof URL) {
      const res = await (this.#options.fetch ?? fetch)(source, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
      if (res.ok) return (await res.json()) as UserinfoClaims;
      await res.body?.cancel();
    } else if (source && Object.hasOwn(source, token)) {
      return { email: source[token] as string };
    }
    return this.store.identities.get(token);
  }

  serves(request: Request | URL | string): boolean {
    const url = new URL(request instanceof Request ? request.url : request, `${this.baseUrl}/`);
    return this.paths.some((p) => url.pathname.startsWith(p));
  }

  async handle(request: Request): Promise<Response> {
    let answered = () => {};
    this.#answered.set(request, new Promise<void>((resolve) => (answered = resolve)));
    try {
      const held = this.phase('received', request);
      if (held) await held;
      const url = new URL(request.url);
      const response = toResponse(await esapRoute(request, this), request);
      this.requests.push({ method: request.method, path: url.pathname, status: response.status });
      return response;
    } finally {
      answered();
    }
  }

  phase(phase: EsapRequestPhase, request: Request): Promise<void> | undefined {
    if (this.#hooks.size === 0) return undefined;
    const event: EsapRequestEvent = Object.freeze({ phase, method: request.method, path: new URL(request.url).pathname, request });
    const waits = [...this.#hooks].map((hook) => hook(event)).filter((r): r is Promise<void> => typeof (r as Promise<void> | undefined)?.then === 'function');
    return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
  }

  onRequest(hook: EsapRequestHook): () => void {
    this.#hooks.add(hook);
    return () => void this.#hooks.delete(hook);
  }

  hold(options: EsapHoldOptions = {}): EsapHold {
    const phase = options.phase ?? 'received';
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const method = options.method?.toUpperCase();
    const held: EsapRequestEvent[] = [];
    const gates: (() => void)[] = [];
    let waiters: { count: number; resolve: () => void }[] = [];
    let open = false;
    const matches = (e: EsapRequestEvent) =>
      e.phase === phase &&
      (method === undefined || e.method === method) &&
      (options.path === undefined || (typeof options.path === 'string' ? e.path === options.path : options.path.test(e.path))) &&
      (options.match?.(e) ?? true);
    const remove = this.onRequest((event) => {
      if (open || held.length >= limit || !matches(event)) return undefined;
      const gate = new Promise<void>((resolve) => gates.push(resolve));
      held.push(event);
      for (const w of waiters) if (held.length >= w.count) w.resolve();
      waiters = waiters.filter((w) => held.length < w.count);
      return gate;
    });
    const answered = (e: EsapRequestEvent) => this.#answered.get(e.request) ?? Promise.resolve();
    return {
      held,
      arrived: (count = 1) => (held.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
      release: async (index) => {
        const event = held[index];
        if (!event) throw new RangeError(`ESAP emulator: no held request #${index} (${held.length} held)`);
        gates[index]?.();
        await answered(event);
      },
      releaseAll: async () => {
        open = true;
        remove();
        for (const gate of gates) gate();
        await Promise.all(held.map(answered));
      },
    };
  }

  override handlers(): RequestHandler[] {
    return [http.all(`${this.baseUrl}/esap-api/*`, ({ request }) => this.handle(request))];
  }

  resetLog(): void {
    this.requests.length = 0;
    this.userinfoCalls.length = 0;
  }

  addUser(seed: EsapUserSeed): void {
    const { store } = this;
    store.users.set(seed.user_name, { username: seed.user_name, email: seed.email, password: seed.password, knoxTokens: new Set(seed.knoxTokens ?? []), active: true });
    const sub = seed.sub ?? `${seed.user_name}-sub`;
    for (const token of seed.tokens ?? []) this.addIdentity(token, { sub, email: seed.email, preferred_username: seed.user_name, ...(seed.full_name ? { name: seed.full_name } : {}) });
    if (seed.profile === false) return;
    store.profiles.set(seed.user_name, {
      user_name: seed.user_name,
      full_name: seed.full_name ?? null,
      user_email: seed.email,
      uid: profileUid(this.oidc.issuer, sub),
      oidc_id_token: null,
      oidc_access_token: null,
      id_token_expiration: null,
    });
    if (seed.items) this.setBasket(seed.user_name, seed.items);
  }

  addIdentity(token: string, claims: UserinfoClaims): void {
    this.store.identities.set(token, claims);
  }

  #profile(userName: string): string {
    if (!this.store.profiles.has(userName)) throw new Error(`ESAP emulator: no profile ${JSON.stringify(userName)} (addUser first)`);
    return userName;
  }

  setBasket(userName: string, items: readonly unknown[]): void {
    this.store.replaceCart(this.#profile(userName), items);
  }

  setRawBasket(userName: string, itemData: readonly unknown[]): void {
    this.store.deleteCart(this.#profile(userName));
    for (const data of itemData) this.store.createItem(toPy(data), userName);
  }

  itemData(userName: string): unknown[] {
    return this.store.cart(userName).map((i) => fromPy(i.item_data));
  }

  basket(userName: string): unknown[] {
    return this.itemData(userName).map((d) => (typeof d === 'string' ? (JSON.parse(d) as unknown) : d));
  }

  createSession(userName: string, seed: EsapSessionSeed = {}): string {
    const profile = this.store.profiles.get(userName);
    const user = this.store.users.get(userName);
    if (!user) throw new Error(`ESAP emulator: no user ${JSON.stringify(userName)} (addUser first)`);
    const key = seed.sessionid ?? randomString(32, true);
    const iat = seconds(seed.issuedAt ?? this.now());
    const exp = seconds(seed.expiresAt ?? iat + 3600);
    const sub = profile?.uid?.split(':userinfo:')[1] ?? `${userName}-sub`;
    const accessToken = seed.accessToken ?? `${userName}-session-${randomString(24)}`;
    const idToken =
      seed.idToken ??
      [
        b64url(JSON.stringify({ kid: 'rsa1', alg: 'RS256' })),
        b64url(JSON.stringify({ iss: this.oidc.issuer, sub, aud: this.oidc.clientId, exp, iat, jti: `fake-${iat}` })),
        b64url('signature-not-checked'),
      ].join('.');
    if (seed.accessToken === undefined && seed.oidc !== false) this.addIdentity(accessToken, { sub, email: user.email, preferred_username: userName });
    this.store.sessions.set(key, {
      key,
      username: userName,
      oidcBackend: seed.oidc !== false,
      ...(seed.oidc === false ? {} : { oidc_id_token: idToken, oidc_access_token: accessToken, oidc_id_token_expiration: exp }),
    });
    return key;
  }

  get rawStore(): EsapRawStore {
    const { store } = this;
    return {
      users: [...store.users.values()].map((u) => ({ username: u.username, email: u.email, hasPassword: u.password !== undefined })),
      profiles: [...store.profiles.values()].map((p) => ({ ...p })),
      items: store.items.map((i) => ({ id: i.id, item_data: fromPy(i.item_data), user_profile: i.user_profile })),
      sessions: [...store.sessions.values()].map((s) => ({ sessionid: s.key, username: s.username, expiresAt: s.oidc_id_token_expiration })),
    };
  }
}

/**
 * Create an emulated ESAP API gateway.
 *
 * @example
 * ```ts
 * import { createEsapEmulator } from 'dlaas/testing';
 * import { EsapClient } from 'dlaas';
 *
 * const esap = createEsapEmulator();
 * esap.addUser({ user_name: 'alice', email: 'alice@example.org', tokens: ['alice-token'],
 *   items: [{ archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST', name: 'run100.simtel.zst' } }] });
 * const client = new EsapClient({ baseUrl: esap.baseUrl, token: 'alice-token', fetch: esap.fetch });
 * console.log((await client.basket.get()).dids());
 * ```
 */
export function createEsapEmulator(options: EsapEmulatorOptions = {}): EsapEmulator {
  return new Emulator(options);
}
