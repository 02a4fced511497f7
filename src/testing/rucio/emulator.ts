/**
 * The in-memory Rucio server: a fetch-style handler that answers like the recorded Rucio REST API
 * (status codes, headers, body bytes), usable through msw, an injected `fetch`, or a real loopback
 * HTTP server, plus a seeding and control API for tests.
 * @module
 */
import { parseDid, type Did } from '../../core/did.js';
import { lfn2pathIdentity } from '../../rucio/lfn2pfn.js';
import { FetchEmulator, type FetchEmulatorApi } from '../fetch-emulator.js';
import { checksumsOf, checksumsReady } from './checksums.js';
import { Judge, newId } from './judge.js';
import { createJwtValidator, oidcIdentity, type JwtValidator } from './jwt.js';
import { setMeta } from './meta.js';
import type { Ctx, Route, RouteEnv } from './router.js';
import { accountRoutes, addAccount, addScope } from './routes/accounts.js';
import { authRoutes } from './routes/auth.js';
import { badReplicaRoutes } from './routes/bad-replicas.js';
import { attach, closeCollection, createCollection, didRoutes } from './routes/dids.js';
import { replicaRoutes } from './routes/replicas.js';
import { createRse, rseRoutes } from './routes/rses.js';
import { ruleRoutes } from './routes/rules.js';
import { didKey, didRecord, replicaKey, Store } from './state.js';
import { seedOf, syntheticTotal, type SyntheticSet } from './synthetic.js';
import type { AccountOptions, RequestLogEntry, RseOptions, RucioEmulatorOptions, SeedDatasetOptions, SeededFile, SyntheticDatasetOptions } from './types.js';
import { checkAccept, errorResponse, fixedResponse, HTML, methodNotAllowedPage, notFoundPage, PlainServerError, RucioError } from './wire.js';

const ROUTES: readonly Route[] = [...authRoutes, ...accountRoutes, ...rseRoutes, ...didRoutes, ...badReplicaRoutes, ...replicaRoutes, ...ruleRoutes];
const DEFAULT_ALLOW_HEADERS = 'X-Rucio-Auth-Token, X-Rucio-Account, X-Rucio-VO, X-Rucio-AppID, X-Rucio-Username, X-Rucio-Password, Content-Type, Accept';

/**
 * A DID given as `scope:name` or `{ scope, name }`.
 *
 * @example
 * ```ts
 * rucio.bytes('test:file1', 'SITE_A');
 * rucio.bytes({ scope: 'test', name: 'file1' }, 'SITE_A');
 * ```
 */
export type DidLike = string | Did;

/**
 * The emulator returned by {@link createRucioEmulator}: a Rucio server in memory, with a seeding
 * and control API for tests.
 *
 * @example
 * ```ts
 * const rucio: RucioEmulator = createRucioEmulator({ transferDelayMs: 50 });
 * const url = await rucio.listen(); // http://127.0.0.1:<port>
 * // ... run a client against url ...
 * await rucio.close();
 * ```
 */
export interface RucioEmulator extends FetchEmulatorApi {
  /** Create an account (optionally with a userpass identity and the `admin` attribute). */
  addAccount(name: string, options?: AccountOptions): void;
  /** Create a scope owned by `account`. */
  addScope(scope: string, account: string): void;
  /** Create an RSE with its protocols and attributes. */
  addRse(name: string, options?: RseOptions): void;
  /** A valid token for `account` (`account-identity-unknown-<32 hex>`), expiring after `tokenLifetimeSeconds`. */
  issueToken(account: string): string;
  /** Map an OIDC identity (`SUB=<sub>, ISS=<issuer>`) to an account, for JWTs accepted through the `oidc` option. */
  addOidcIdentity(sub: string, issuer: string, account: string): void;
  /** Create a dataset with real files (checksums computed), AVAILABLE replicas and stored bytes. */
  seedDataset(options: SeedDatasetOptions): Promise<SeededFile[]>;
  /** Create a closed dataset of `count` generated files (constant memory whatever `count`). */
  seedSyntheticDataset(options: SyntheticDatasetOptions): void;
  /** The bytes of a replica (`undefined` if the RSE holds none). */
  bytes(did: DidLike, rse: string): Uint8Array | undefined;
  /** Store the bytes of a replica (what a storage emulator does on upload). */
  putBytes(did: DidLike, rse: string, data: Uint8Array): void;
  /** Complete queued transfers (all, or those of one rule, at most `limit` of them); returns how many succeeded. */
  completeTransfers(options?: { ruleId?: string; limit?: number }): number;
  /** The account a token authenticates as, if it is a valid (unexpired) token the server knows. */
  tokenAccount(token: string): string | undefined;
  /**
   * The account a token authenticates as, the way the server's auth decides it: a token the server
   * knows, or a JWT of an issuer trusted through the `oidc` option (checked once, then kept).
   */
  authenticateToken(token: string): Promise<string | undefined>;
  /** Every explicit file replica: DID, RSE name, state. */
  fileReplicas(): Iterable<{ did: { scope: string; name: string }; rse: string; state: string }>;
  /** Fail queued transfers: locks STUCK, rules STUCK with `error`. Returns how many failed. */
  failTransfers(options?: { ruleId?: string; error?: string }): number;
  /** Number of queued transfers. */
  readonly pendingTransfers: number;
  /** Every request served, in order. */
  readonly requests: readonly RequestLogEntry[];
  /** Clear {@link requests}. */
  resetLog(): void;
}

class Emulator extends FetchEmulator implements RucioEmulator, RouteEnv {
  readonly store: Store;
  readonly judge: Judge;
  readonly tokenLifetimeSeconds: number;
  readonly version: string;
  readonly requests: RequestLogEntry[] = [];
  private readonly corsOrigins: '*' | readonly string[];
  private readonly oidcAccounts = new Map<string, string>();
  private readonly acceptJwt: JwtValidator | undefined;

  constructor(options: RucioEmulatorOptions) {
    super(options.baseUrl ?? 'https://rucio.emulator.test');
    this.store = new Store(options.now ?? (() => new Date()), options.database ?? 'sqlite');
    this.judge = new Judge(this.store, options.transferDelayMs);
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
    this.version = options.version ?? '41.0.0rc1';
    this.corsOrigins = options.corsOrigins ?? '*';
    const oidc = options.oidc;
    this.acceptJwt = oidc && createJwtValidator({ ...oidc, identities: (id) => this.oidcAccounts.get(id), now: () => this.store.now() });
    if (options.root !== false) this.addAccount('root', { type: 'SERVICE', email: 'root@abc.com', username: 'ddmlab', password: 'secret' });
  }

  get pendingTransfers(): number {
    return this.judge.pendingTransfers;
  }

  allowOrigin(request: Request): string | undefined {
    const origin = request.headers.get('Origin');
    if (origin === null) return 'None';
    return this.corsOrigins === '*' || this.corsOrigins.includes(origin) ? origin : undefined;
  }

  issueToken(account: string, identity?: string, appId = 'unknown'): string {
    if (!this.store.accounts.has(account)) throw new Error(`issueToken: no account ${account}`);
    const who = identity ?? [...this.store.identities].find(([, i]) => i.accounts.includes(account))?.[0] ?? account;
    const token = `${account}-${who}-${appId}-${newId()}`;
    const expiresAt = new Date(this.store.now().getTime() + this.tokenLifetimeSeconds * 1000);
    this.store.tokens.set(token, { token, account, identity: who, expiresAt });
    return token;
  }

  async handle(request: Request): Promise<Response> {
    await checksumsReady();
    const url = new URL(request.url);
    const entry: RequestLogEntry = { method: request.method, path: url.pathname, query: url.search.slice(1), status: 0 };
    this.requests.push(entry);
    const response = await this.dispatch(request, url);
    entry.status = response.status;
    return response;
  }

  private preflight(request: Request): Response {
    const origin = request.headers.get('Origin');
    if (this.corsOrigins !== '*' && (origin === null || !this.corsOrigins.includes(origin))) return fixedResponse(403, '', 'text/plain; charset=utf-8');
    return fixedResponse(200, '', 'text/plain; charset=utf-8', {
      'Access-Control-Allow-Origin': origin ?? 'None',
      'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': request.headers.get('Access-Control-Request-Headers') ?? DEFAULT_ALLOW_HEADERS,
      'Access-Control-Allow-Credentials': 'true',
    });
  }

  /** `request_auth_env`: the token's account (a JWT is checked once, then kept like a Rucio token). */
  private async authenticate(request: Request): Promise<string> {
    const token = request.headers.get('X-Rucio-Auth-Token')?.trim();
    if (!token) throw new RucioError(400, 'ValueError', 'Token must be set.');
    const account = await this.authenticateToken(token);
    if (account === undefined) throw new RucioError(401, 'CannotAuthenticate', 'Cannot authenticate with given credentials');
    return account;
  }

  async authenticateToken(token: string): Promise<string | undefined> {
    let record = this.store.tokens.get(token);
    if (!record && this.acceptJwt) {
      const jwt = await this.acceptJwt(token);
      if (jwt) this.store.tokens.set(token, (record = { token, account: jwt.account, identity: jwt.identity, expiresAt: jwt.expiresAt, audience: jwt.audience, scope: jwt.scope }));
    }
    return record && record.expiresAt > this.store.now() ? record.account : undefined;
  }

  addOidcIdentity(sub: string, issuer: string, account: string): void {
    if (!this.store.accounts.has(account)) throw new Error(`addOidcIdentity: no account ${account}`);
    const identity = oidcIdentity(sub, issuer);
    if (!this.oidcAccounts.has(identity)) this.oidcAccounts.set(identity, account);
  }

  private async dispatch(request: Request, url: URL): Promise<Response> {
    if (request.method === 'OPTIONS') return this.preflight(request);
    if (request.method === 'HEAD') {
      // Flask answers HEAD with the GET view, without the body.
      const get = await this.dispatch(new Request(request, { method: 'GET' }), url);
      return new Response(null, { status: get.status, headers: get.headers });
    }
    let path = url.pathname;
    try {
      path = decodeURIComponent(path);
    } catch {
      // werkzeug keeps undecodable sequences as they are.
    }
    const allowed: string[] = [];
    let found: { route: Route; params: Record<string, string> } | undefined;
    for (const route of ROUTES) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (!route.methods.includes(request.method)) {
        allowed.push(...route.methods);
        continue;
      }
      found = { route, params: { ...m.groups } };
      break;
    }
    if (!found) return allowed.length ? methodNotAllowedPage([...new Set([...allowed, 'OPTIONS', ...(allowed.includes('GET') ? ['HEAD'] : [])])].sort()) : notFoundPage();
    const { route, params } = found;
    let response: Response;
    try {
      const issuer = route.auth === false ? '' : await this.authenticate(request);
      const accept = route.accept?.[request.method];
      if (accept) checkAccept(request.headers.get('Accept'), accept);
      const ctx: Ctx = { request, url, params, issuer, env: this };
      response = await route.handle(ctx);
    } catch (error) {
      if (error instanceof RucioError) response = errorResponse(error);
      else response = fixedResponse(500, error instanceof PlainServerError ? error.message : String(error), HTML);
    }
    if (!route.ownHeaders) this.blueprintHeaders(request, response.headers);
    return response;
  }

  /** `response_headers`, the `after_request` hook of every authenticated blueprint and `/ping`. */
  private blueprintHeaders(request: Request, headers: Headers): void {
    const origin = this.allowOrigin(request);
    if (origin !== undefined) headers.set('Access-Control-Allow-Origin', origin);
    headers.set('Access-Control-Allow-Headers', request.headers.get('Access-Control-Request-Headers') ?? 'None');
    headers.set('Access-Control-Allow-Methods', '*');
    headers.set('Access-Control-Allow-Credentials', 'true');
    if (request.method === 'GET') {
      headers.set('Cache-Control', 'post-check=0, pre-check=0');
      headers.set('Pragma', 'no-cache');
    }
  }

  override async close(): Promise<void> {
    this.judge.close();
    await super.close();
  }

  resetLog(): void {
    this.requests.length = 0;
  }

  addAccount(name: string, options: AccountOptions = {}): void {
    addAccount(this, undefined, name, options.type ?? 'USER', options.email ?? null, options.admin ?? false);
    if (options.password !== undefined) {
      const username = options.username ?? name;
      const identity = this.store.identities.get(username) ?? { password: options.password, accounts: [] };
      identity.accounts.push(name);
      this.store.identities.set(username, identity);
    }
  }

  addScope(scope: string, account: string): void {
    addScope(this, undefined, account, scope);
  }

  addRse(name: string, options: RseOptions = {}): void {
    createRse(this, undefined, name, options);
  }

  /** A request context acting as `account`, for seeding through the same code as the REST views. */
  private ctxAs(account: string): Ctx {
    return { request: new Request(this.baseUrl), url: new URL(this.baseUrl), params: {}, issuer: account, env: this };
  }

  async seedDataset(o: SeedDatasetOptions): Promise<SeededFile[]> {
    await checksumsReady();
    const { store } = this;
    const account = o.account ?? store.scopes.get(o.scope);
    if (!account) throw new Error(`seedDataset: unknown scope ${o.scope}`);
    const rses = [...(o.rses ?? []), ...(o.rse ? [o.rse] : [])].map((r) => store.requireRse(r));
    const ctx = this.ctxAs(account);
    const dataset = store.getDid(o.scope, o.name) ?? (await createCollection(ctx, { scope: o.scope, name: o.name, type: 'DATASET', account }, false));
    if (o.meta) setMeta(store, dataset, o.meta);
    const now = store.now();
    const seeded = o.files.map((f) => {
      const data = typeof f.content === 'string' ? new TextEncoder().encode(f.content) : f.content;
      const sums = checksumsOf(data);
      if (store.getDid(o.scope, f.name)) throw new Error(`seedDataset: ${o.scope}:${f.name} already exists`);
      const file = didRecord(o.scope, f.name, 'FILE', account, now, { bytes: sums.bytes, md5: sums.md5, adler32: sums.adler32 });
      store.dids.set(didKey(o.scope, f.name), file);
      if (f.meta) setMeta(store, file, f.meta);
      for (const rse of rses) {
        const path = rse.deterministic ? null : `/${lfn2pathIdentity({ scope: o.scope, name: f.name })}`;
        store.putReplica(o.scope, f.name, { rseId: rse.id, state: 'AVAILABLE', path, bytes: sums.bytes, md5: sums.md5, adler32: sums.adler32, createdAt: now, updatedAt: now });
        store.blobs.set(replicaKey(rse.id, o.scope, f.name), data);
      }
      return { scope: o.scope, name: f.name, ...sums };
    });
    await attach(ctx, dataset, seeded, false);
    if (o.open === false) closeCollection(this, dataset);
    return seeded;
  }

  seedSyntheticDataset(o: SyntheticDatasetOptions): void {
    const { store } = this;
    const account = o.account ?? store.scopes.get(o.scope);
    if (!account) throw new Error(`seedSyntheticDataset: unknown scope ${o.scope}`);
    if (store.getDid(o.scope, o.name)) throw new Error(`seedSyntheticDataset: ${o.scope}:${o.name} already exists`);
    const now = store.now();
    const totalBytes = syntheticTotal(o.count);
    const set: SyntheticSet = { scope: o.scope, dataset: o.name, count: o.count, prefix: o.prefix ?? `${o.name}_`, width: String(Math.max(o.count - 1, 0)).length, rseIds: o.rses.map((r) => store.requireRse(r).id), account, createdAt: now, totalBytes, seed: seedOf(`${o.scope}:${o.name}`) };
    store.dids.set(didKey(o.scope, o.name), didRecord(o.scope, o.name, 'DATASET', account, now, { bytes: totalBytes, length: o.count, isOpen: false, closedAt: now, synthetic: set }));
    const sets = store.synthetic.get(o.scope) ?? [];
    sets.push(set);
    store.synthetic.set(o.scope, sets);
    store.collectionReplicas.set(didKey(o.scope, o.name), new Map(set.rseIds.map((id) => [id, now])));
  }

  private replicaOf(did: DidLike, rse: string): { scope: string; name: string; rseId: string } {
    const { scope, name } = typeof did === 'string' ? parseDid(did) : did;
    return { scope, name, rseId: this.store.requireRse(rse).id };
  }

  bytes(did: DidLike, rse: string): Uint8Array | undefined {
    const { scope, name, rseId } = this.replicaOf(did, rse);
    return this.store.bytesOf(scope, name, rseId);
  }

  putBytes(did: DidLike, rse: string, data: Uint8Array): void {
    const { scope, name, rseId } = this.replicaOf(did, rse);
    this.store.blobs.set(replicaKey(rseId, scope, name), data);
  }

  tokenAccount(token: string): string | undefined {
    const rec = this.store.tokens.get(token);
    return rec && rec.expiresAt > this.store.now() ? rec.account : undefined;
  }

  *fileReplicas(): Iterable<{ did: { scope: string; name: string }; rse: string; state: string }> {
    for (const [fileKey, byRse] of this.store.replicas) {
      const did = parseDid(fileKey);
      for (const [rseId, replica] of byRse) {
        const rse = this.store.rseById(rseId);
        if (rse) yield { did, rse: rse.name, state: replica.state };
      }
    }
  }

  completeTransfers(options: { ruleId?: string; limit?: number } = {}): number {
    return this.judge.completeTransfers(options.ruleId, options.limit);
  }

  failTransfers(options: { ruleId?: string; error?: string } = {}): number {
    return this.judge.failTransfers(options.error ?? 'RequestErrMsg.TRANSFER_FAILED:emulated transfer failure', options.ruleId);
  }
}

/**
 * Create an in-memory Rucio server.
 *
 * @example
 * ```ts
 * const rucio = createRucioEmulator();
 * rucio.addScope('test', 'root');
 * rucio.addRse('SITE_A', { protocols: [{ scheme: 'davs', hostname: 'a.example.org', port: 443, prefix: '/rucio/' }] });
 * await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: [{ name: 'f1', content: 'hello' }] });
 * const res = await rucio.fetch('/replicas/list', {
 *   method: 'POST',
 *   headers: { 'X-Rucio-Auth-Token': rucio.issueToken('root') },
 *   body: JSON.stringify({ dids: [{ scope: 'test', name: 'ds' }] }),
 * });
 * ```
 */
export function createRucioEmulator(options: RucioEmulatorOptions = {}): RucioEmulator {
  return new Emulator(options);
}

