/**
 * The whole emulated Data Lake behind one base URL: Rucio at `/`, ESAP at `/esap-api/`, and one
 * storage element per RSE at `/storage/<rse>/`, with the catalogue and the storage kept in step
 * (seeded files are on storage; completed transfers copy bytes; uploads become catalogue bytes).
 * @module
 */
import type { Did } from '../core/did.js';
import { lfn2pathHash } from '../rucio/lfn2pfn.js';
import { createEsapEmulator, type EsapEmulator } from './esap/index.js';
import { FetchEmulator } from './fetch-emulator.js';
import { createRucioEmulator, type RucioEmulator } from './rucio/emulator.js';
import type { RucioEmulatorOptions, SeedDatasetOptions, SeededFile } from './rucio/types.js';
import { createStorageEmulator, type StorageEmulator } from './storage/index.js';
import { FULL_STORAGE_SCOPE, createWlcgTokenIssuer, createWlcgTokenVerifier, type WlcgTokenIssuer } from './storage/tokens.js';

/** Options of {@link createDataLakeEmulator}. */
export interface DataLakeEmulatorOptions {
  /** RSEs, each with its own emulated storage element (default `['SITE_A', 'SITE_B']`). */
  rses?: readonly string[];
  /** Serve over loopback HTTP (`'http'`, Node) or only through `fetch`/msw (`'fetch'`, default). */
  serve?: 'http' | 'fetch';
  /** Base URL in `'fetch'` mode (default `https://datalake.emulator.test`: in-process, no TLS needed, and storage tokens go only to https). */
  baseUrl?: string;
  /** Options of the Rucio part (transfer delay, OIDC issuers, clock, …). */
  rucio?: Omit<RucioEmulatorOptions, 'baseUrl'>;
  /** Origins allowed by CORS (default all). */
  corsOrigins?: '*' | readonly string[];
  /** Port on 127.0.0.1 in `'http'` mode (default: a free one). */
  port?: number;
  /** Answer a request before Rucio, ESAP and storage do (e.g. an extra page); `undefined` passes it on. */
  route?: (request: Request) => Promise<Response | undefined> | Response | undefined;
}

/** A user of {@link DataLakeEmulator.addUser}. */
export interface DataLakeUserOptions {
  /** Rucio account (also the ESAP `user_name`); gets scope `user.<account>`. */
  account: string;
  email?: string;
  fullName?: string;
  /** Password for Rucio userpass and ESAP Basic auth. */
  password?: string;
  /** The `admin` attribute (the generic policy lets only admins register replicas and set them AVAILABLE). */
  admin?: boolean;
  /** Initial basket items (bare `{archive, record}`). */
  basket?: readonly unknown[];
}

/** The emulated Data Lake. */
export interface DataLakeEmulator {
  readonly rucio: RucioEmulator;
  readonly esap: EsapEmulator;
  /** Storage element per RSE. */
  readonly storage: ReadonlyMap<string, StorageEmulator>;
  /** Base URL of everything (Rucio at `/`, ESAP at `/esap-api/`, storage at `/storage/<rse>/`). */
  readonly url: string;
  /** `fetch` reaching the emulator without network (any runtime). */
  readonly fetch: typeof fetch;
  /** msw handlers for the base URL. */
  handlers(): ReturnType<FetchEmulator['handlers']>;
  /** Stop the HTTP server, if any. */
  close(): Promise<void>;
  /** Create a user everywhere; returns a Rucio token that ESAP and storage accept too. */
  addUser(user: DataLakeUserOptions): string;
  /** Seed a dataset in Rucio and put its files on the RSEs' storage. */
  seedDataset(options: SeedDatasetOptions): Promise<SeededFile[]>;
  /** Finish queued transfers (all, or a rule's, at most `limit`: rules → OK) and copy the bytes onto the destination storage. */
  completeTransfers(options?: { ruleId?: string; limit?: number }): Promise<number>;
  /** Fail queued transfers (rules → STUCK). */
  failTransfers(options?: { ruleId?: string; error?: string }): number;
  /** Bring catalogue bytes and storage in step (called by the methods above; call it after direct changes). */
  sync(): Promise<void>;
  /** The environment a DLaaS notebook of `account` would see (`RUCIO_BASE_URL`, `RUCIO_ACCESS_TOKEN`, `ESAP_URL`, …). */
  env(token: string, extra?: Record<string, string>): Record<string, string>;
  /** A WLCG storage token (`storage.read:/ storage.create:/ storage.modify:/` by default). */
  mintStorageToken(scope?: string): Promise<string>;
}

class Gateway extends FetchEmulator {
  route: (request: Request) => Promise<Response> = async () => new Response('not ready', { status: 503 });
  handle(request: Request): Promise<Response> {
    return this.route(request);
  }
}

/**
 * Start an emulated Data Lake: Rucio, ESAP and storage, consistent with each other, for demos and
 * tests in any runtime (`serve: 'fetch'`) or over loopback HTTP (`serve: 'http'`).
 *
 * @example
 * ```ts
 * const lake = await createDataLakeEmulator({ serve: 'http' });
 * const token = lake.addUser({ account: 'jdoe', email: 'jdoe@example.org', admin: true });
 * await lake.seedDataset({ scope: 'user.jdoe', name: 'obs1', rse: 'SITE_A', files: [{ name: 'a.fits', content: 'SIMPLE  =' }] });
 * const dl = createDataLake({ rucio: { baseUrl: lake.url, token }, esap: { baseUrl: lake.url, token } });
 * await lake.close();
 * ```
 */
export async function createDataLakeEmulator(options: DataLakeEmulatorOptions = {}): Promise<DataLakeEmulator> {
  const gateway = new Gateway(options.baseUrl ?? 'https://datalake.emulator.test');
  const url = options.serve === 'http' ? (await gateway.listen(options.port ? { port: options.port } : {})).replace(/\/+$/, '') : gateway.baseUrl;
  const cors = options.corsOrigins ?? '*';
  const rucio = createRucioEmulator({ ...options.rucio, baseUrl: url, corsOrigins: cors });
  const emails = new Map<string, string>();
  const esap = createEsapEmulator({
    baseUrl: url,
    // ESAP asks the IdP's userinfo for the bearer's email: here, the Rucio account's email (Rucio
    // tokens, and JWTs of the OIDC issuers the Rucio part trusts).
    userinfo: async (token: string) => {
      const account = await rucio.authenticateToken(token);
      const email = account ? emails.get(account) : undefined;
      return email && account ? { email, sub: account } : undefined;
    },
  });
  const wlcg: WlcgTokenIssuer = await createWlcgTokenIssuer({ issuer: 'https://issuer.datalake.emulator.test' });
  const wlcgVerify = createWlcgTokenVerifier({ issuer: wlcg.issuer, jwks: wlcg.jwks, audience: () => [url] });
  const storage = new Map<string, StorageEmulator>();
  for (const rse of options.rses ?? ['SITE_A', 'SITE_B']) {
    const prefix = `/storage/${rse.toLowerCase()}/rucio/`;
    storage.set(
      rse,
      createStorageEmulator({
        baseUrl: url,
        cors: cors === '*' ? true : cors,
        // Storage accepts the WLCG tokens of the lake's issuer, and (a simplification) any token Rucio accepts.
        verifyToken: async (token) => {
          const account = await rucio.authenticateToken(token);
          if (account) return { scopes: FULL_STORAGE_SCOPE.split(' '), sub: account };
          return wlcgVerify(token);
        },
      }),
    );
    const u = new URL(url);
    rucio.addRse(rse, {
      attributes: { site: rse.toLowerCase() },
      protocols: [{ scheme: u.protocol.replace(':', ''), hostname: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), prefix }],
    });
  }
  const storageFor = (path: string) => {
    const m = /^\/storage\/([^/]+)\//.exec(path);
    if (!m) return undefined;
    for (const [rse, s] of storage) if (rse.toLowerCase() === m[1]) return s;
    return undefined;
  };
  gateway.route = async (request) => {
    const extra = options.route ? await options.route(request) : undefined;
    if (extra) return extra;
    const path = new URL(request.url).pathname;
    const s = storageFor(path);
    if (s) return s.handle(request);
    if (esap.serves(request)) return esap.handle(request);
    return rucio.handle(request);
  };

  // Deterministic RSEs: the storage path of a file is its PFN's path (prefix + hash path).
  const storagePath = async (rse: string, did: Did): Promise<string> => `/storage/${rse.toLowerCase()}/rucio/${await lfn2pathHash(did)}`;

  const sync = async () => {
    for (const { did, rse, state } of [...rucio.fileReplicas()]) {
      const se = storage.get(rse);
      if (!se) continue;
      const path = await storagePath(rse, did);
      const catalogue = rucio.bytes(did, rse);
      const onStorage = se.get(path);
      if (catalogue && !onStorage && state === 'AVAILABLE') se.put(path, catalogue);
      else if (onStorage && !catalogue) rucio.putBytes(did, rse, onStorage);
    }
  };

  const lake: DataLakeEmulator = {
    rucio,
    esap,
    storage,
    url,
    fetch: gateway.fetch,
    handlers: () => gateway.handlers(),
    close: async () => {
      await gateway.close();
      await Promise.all([rucio.close(), esap.close(), ...[...storage.values()].map((s) => s.close())]);
    },
    addUser(user) {
      const email = user.email ?? `${user.account}@example.org`;
      rucio.addAccount(user.account, { email, ...(user.password ? { password: user.password } : {}), ...(user.admin ? { admin: true } : {}) });
      rucio.addScope(`user.${user.account}`, user.account);
      emails.set(user.account, email);
      esap.addUser({ user_name: user.account, email, full_name: user.fullName ?? user.account, ...(user.password ? { password: user.password } : {}) });
      if (user.basket) esap.setBasket(user.account, user.basket);
      return rucio.issueToken(user.account);
    },
    async seedDataset(o) {
      const files = await rucio.seedDataset(o);
      await sync();
      return files;
    },
    async completeTransfers(o = {}) {
      await sync();
      const n = rucio.completeTransfers(o);
      await sync();
      return n;
    },
    failTransfers: (o = {}) => rucio.failTransfers(o),
    sync,
    env(token, extra = {}) {
      return { RUCIO_BASE_URL: url, RUCIO_AUTH_URL: url, RUCIO_ACCESS_TOKEN: token, ESAP_URL: url, ...extra };
    },
    mintStorageToken: (scope) => wlcg.mintToken({ aud: url, ...(scope ? { scope } : {}) }),
  };
  return lake;
}
