/**
 * @module
 */
import { ConfigError } from '../core/errors.js';
import type { TokenSource } from '../core/token.js';
import { Transport, type CallOptions, type ResponseLimits, type RetryPolicy } from '../core/transport.js';
import { Accounts, RucioAuth, Scopes } from './accounts.js';
import { RucioApi } from './api.js';
import { Dids } from './dids.js';
import { Replicas } from './replicas.js';
import { Rses } from './rses.js';
import { Rules } from './rules.js';
import { PingSchema, type Ping } from './types.js';

/** Options of {@link RucioClient}. */
export interface RucioClientOptions {
  /** Data host (`rucio_host`), e.g. `https://rucio.example.org`. A path prefix is kept. */
  baseUrl: string | URL;
  /** Auth host (`auth_host`) when it differs from the data host. */
  authUrl?: string | URL | undefined;
  /** Account to act as (rule owner, userpass login). */
  account?: string | undefined;
  /** VO on multi-VO servers (sent to `/auth/*` as `X-Rucio-VO`). */
  vo?: string | undefined;
  /**
   * Token for `X-Rucio-Auth-Token`: a Rucio token or an OIDC JWT with audience `rucio`, as a string,
   * a function, or a `TokenProvider` (see the `auth` module for env/file/OIDC providers).
   */
  token?: TokenSource | undefined;
  /** Custom `fetch` (tests, proxies). */
  fetch?: typeof fetch | undefined;
  /** Per-attempt timeout in ms (default 30 000). */
  timeout?: number | false | undefined;
  /** Total timeout per call in ms (default none). */
  totalTimeout?: number | false | undefined;
  /** Retry policy for idempotent calls. */
  retry?: RetryPolicy | undefined;
  /**
   * Size limits on responses, counted in decoded bytes (defaults: 16 MiB per NDJSON line, 64 MiB per
   * JSON body). A response over one fails with a `ResponseTooLargeError` naming the limit to raise here.
   */
  limits?: ResponseLimits | undefined;
  /** Extra headers on every request (e.g. `X-Rucio-Script`). Never put secrets here. */
  headers?: Record<string, string> | undefined;
}

/**
 * A client of the Rucio REST API.
 *
 * @example
 * ```ts
 * import { RucioClient, parseDid } from 'dlaas';
 *
 * const rucio = new RucioClient({ baseUrl: 'https://rucio.example.org', account: 'jdoe', token: process.env.RUCIO_ACCESS_TOKEN });
 * console.log(await rucio.ping());
 * for await (const r of rucio.replicas.list([parseDid('lofar:L123456')])) console.log(r.name, r.replicas.map((p) => p.pfn));
 * ```
 */
export class RucioClient {
  /** DIDs: get, search, content, files, metadata, create, attach, close. */
  readonly dids: Dids;
  /** Replicas: list (bulk, streamed), add, update state, delete, declare bad or suspicious. */
  readonly replicas: Replicas;
  /** Rules: create, get, list, locks, a DID's rule history, update, delete, wait. */
  readonly rules: Rules;
  /** RSEs: list/resolve expressions, settings, protocols, attributes, PFNs. */
  readonly rses: Rses;
  /** Scopes. */
  readonly scopes: Scopes;
  /** Accounts, including `whoami`. */
  readonly accounts: Accounts;
  /** Rucio's own auth endpoints: userpass tokens, token validation. */
  readonly auth: RucioAuth;
  /** The transport to the data host (for calls the SDK does not wrap). */
  readonly transport: Transport;
  /** The account this client acts as. */
  readonly account: string | undefined;

  constructor(options: RucioClientOptions) {
    if (!options || !options.baseUrl) throw new ConfigError('RUCIO_BASE_URL', 'Rucio: no base URL given (set "baseUrl", or RUCIO_BASE_URL in the environment)');
    const common = {
      fetch: options.fetch,
      timeout: options.timeout,
      totalTimeout: options.totalTimeout,
      retry: options.retry,
      limits: options.limits,
      headers: options.headers,
    };
    const auth = options.token === undefined ? undefined : { token: options.token, header: 'X-Rucio-Auth-Token' };
    const data = new Transport({ service: 'rucio', baseUrl: options.baseUrl, auth, ...common });
    const authHost = options.authUrl ? new Transport({ service: 'rucio-auth', baseUrl: options.authUrl, auth, ...common }) : data;
    const api = new RucioApi(data, authHost, options.account, options.vo);
    this.transport = data;
    this.account = options.account;
    this.dids = new Dids(api);
    this.replicas = new Replicas(api);
    this.rules = new Rules(api);
    this.rses = new Rses(api);
    this.scopes = new Scopes(api);
    this.accounts = new Accounts(api);
    this.auth = new RucioAuth(api);
  }

  /** Server version (`GET /ping`, no authentication). */
  ping(options?: CallOptions): Promise<Ping> {
    return this.transport.json({ method: 'GET', path: 'ping', auth: false, accept: 'application/json', signal: options?.signal, timeout: options?.timeout }, PingSchema);
  }
}
