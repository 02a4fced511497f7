/**
 * The top-level SDK object: `createDataLake({ rucio, esap, auth })` → `{ rucio, esap, auth, staging }`.
 * @module
 */
import { OidcClient, type OidcClientOptions } from './auth/oidc/client.js';
import { ConfigError } from './core/errors.js';
import type { TokenProvider, TokenSource } from './core/token.js';
import { lakeAuth, lakeRucio, sharedToken } from './datalake-core.js';
import { EsapClient, type EsapClientOptions } from './esap/client.js';
import type { RucioClient, RucioClientOptions } from './rucio/client.js';
import { Files } from './staging/files.js';
import { Staging, type StagingOptions } from './staging/staging.js';

/** Options of {@link createDataLake}. Each part may be a ready client or its options. */
export interface DataLakeOptions {
  /** Rucio: a client, or its options (`token` defaults to `auth.token`). */
  rucio: RucioClient | (Omit<RucioClientOptions, 'token'> & { token?: TokenSource | undefined });
  /** ESAP: a client, or its options (`token` defaults to `auth.token` unless `credentials` is set for cookie sessions). */
  esap?: EsapClient | EsapClientOptions | undefined;
  /** Identity shared by every part. */
  auth?: DataLakeAuthOptions | undefined;
  /** Staging settings (destination RSE, mount path, mode, sinks). */
  staging?: Omit<StagingOptions, 'rucio'> | undefined;
  /** `fetch` for every part that does not bring its own. */
  fetch?: typeof fetch | undefined;
}

/** Identity options of {@link createDataLake}. */
export interface DataLakeAuthOptions {
  /**
   * The token for Rucio (audience `rucio`) and ESAP; also for storage when neither `storageToken`
   * nor `storageTokenExchange` is given (a fallback that `lake.auth.storageSource` reports).
   */
  token?: TokenSource | undefined;
  /**
   * The WLCG token for storage (audience and `storage.*` scopes for the storage elements), preferred
   * over the Rucio token. `false`: storage gets no token at all (public data only).
   */
  storageToken?: TokenSource | false | undefined;
  /** Where `storageToken` came from (e.g. `file:/run/user/1000/bt_u1000`), for reports. */
  storageSource?: string | undefined;
  /**
   * Get the storage token by RFC 8693 token exchange of `token` at `oidc`, as a WLCG storage token
   * (default audience `https://wlcg.cern.ch/jwt/v1/any`, scope `storage.read:/ storage.create:/ storage.modify:/`).
   */
  storageTokenExchange?: boolean | { audience?: string; scope?: string } | undefined;
  /** An OIDC client (or its options) for interactive logins and token exchange. */
  oidc?: OidcClient | OidcClientOptions | undefined;
  /** Where the token came from (e.g. `env:RUCIO_ACCESS_TOKEN`), for reports. */
  source?: string | undefined;
}

/** The identity part of a {@link DataLake}. */
export interface DataLakeAuth {
  /** The shared token provider, if any. */
  readonly token: TokenProvider | undefined;
  /** Where the token came from, when known. */
  readonly source: string | undefined;
  /** The token storage gets (`undefined`: none). */
  readonly storageToken: TokenProvider | undefined;
  /**
   * Which token storage gets: `auth.storageToken` (or its `storageSource`), `token exchange at <issuer>`,
   * `fallback: the Rucio token`, or `none`.
   */
  readonly storageSource: string;
  /** The OIDC client (throws a {@link ConfigError} when none was configured). */
  readonly oidc: OidcClient;
}

/** The SDK: Rucio, the ESAP basket, identity and staging, sharing one identity. */
export interface DataLake {
  readonly rucio: RucioClient;
  /** The ESAP client (throws a {@link ConfigError} naming `ESAP_URL` when ESAP was not configured). */
  readonly esap: EsapClient;
  readonly auth: DataLakeAuth;
  readonly staging: Staging;
  /** Random access to files (`lake.files.open(did)`): Range reads through a block cache, same replica choice and token rules as staging. */
  readonly files: Files;
}

/**
 * Build the whole SDK from one set of options. In a notebook of an ESCAPE hub, use
 * `createDataLake()` from `dlaas/node`, which reads the DLaaS environment instead.
 *
 * @example
 * ```ts
 * import { createDataLake } from 'dlaas';
 *
 * const lake = createDataLake({
 *   rucio: { baseUrl: 'https://rucio.example.org', account: 'jdoe' },
 *   esap: { baseUrl: 'https://esap.example.org/' },
 *   auth: { token: () => getAccessTokenSomehow() },
 *   staging: { destinationRse: 'SITE_A' },
 * });
 * const dids = await lake.esap.basket.dids();
 * const result = await lake.staging.stage(dids, { mode: 'download' });
 * ```
 */
export function createDataLake(options: DataLakeOptions): DataLake {
  if (!options || !options.rucio) throw new ConfigError('RUCIO_BASE_URL', 'createDataLake: Rucio is not configured (pass "rucio", or set RUCIO_BASE_URL and use dlaas/node)');
  const shared = sharedToken(options);
  const fetchImpl = options.fetch;
  const rucio = lakeRucio(options, shared);
  let esap: EsapClient | undefined;
  if (options.esap instanceof EsapClient) esap = options.esap;
  else if (options.esap) {
    const o = options.esap;
    const cookie = o.credentials !== undefined || o.basic !== undefined;
    esap = new EsapClient({ ...o, ...(o.token === undefined && !cookie && shared ? { token: shared } : {}), ...(fetchImpl && !o.fetch ? { fetch: fetchImpl } : {}) });
  }
  const oidcOption = options.auth?.oidc;
  const oidc = oidcOption instanceof OidcClient ? oidcOption : oidcOption ? new OidcClient({ ...oidcOption, ...(fetchImpl && !oidcOption.fetch ? { fetch: fetchImpl } : {}) }) : undefined;
  const auth = lakeAuth(options, shared, oidc);
  const staging = new Staging({
    ...options.staging,
    rucio,
    storageToken: auth.storageToken,
    fetch: options.staging?.fetch ?? fetchImpl,
  });
  const files = new Files({
    rucio,
    storageToken: auth.storageToken,
    tokenOverPlainHttp: options.staging?.tokenOverPlainHttp,
    fetch: options.staging?.fetch ?? fetchImpl,
    storageHttp: options.staging?.storageHttp,
    storageTimeout: options.staging?.storageTimeout,
    storageRetry: options.staging?.storageRetry,
    destinationRse: options.staging?.destinationRse,
  });
  return {
    rucio,
    get esap(): EsapClient {
      if (!esap) throw new ConfigError('ESAP_URL', 'ESAP is not configured (pass "esap", or set ESAP_URL)');
      return esap;
    },
    auth,
    staging,
    files,
  };
}
