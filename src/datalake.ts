/**
 * The top-level SDK object: `createDataLake({ rucio, esap, auth })` → `{ rucio, esap, auth, staging }`.
 * @module
 */
import { OidcClient, type OidcClientOptions } from './auth/oidc/client.js';
import { ConfigError } from './core/errors.js';
import { toTokenProvider, type TokenProvider, type TokenSource } from './core/token.js';
import { EsapClient, type EsapClientOptions } from './esap/client.js';
import { RucioClient, type RucioClientOptions } from './rucio/client.js';
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
  /** The token for Rucio (audience `rucio`), ESAP and, unless `storageToken` is given, storage. */
  token?: TokenSource | undefined;
  /** A separate WLCG token for storage. */
  storageToken?: TokenSource | undefined;
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
  const shared = options.auth?.token === undefined ? undefined : toTokenProvider(options.auth.token);
  const fetchImpl = options.fetch;
  const rucio =
    options.rucio instanceof RucioClient
      ? options.rucio
      : new RucioClient({ ...options.rucio, token: options.rucio.token ?? shared, ...(fetchImpl && !options.rucio.fetch ? { fetch: fetchImpl } : {}) });
  let esap: EsapClient | undefined;
  if (options.esap instanceof EsapClient) esap = options.esap;
  else if (options.esap) {
    const o = options.esap;
    const cookie = o.credentials !== undefined || o.basic !== undefined;
    esap = new EsapClient({ ...o, ...(o.token === undefined && !cookie && shared ? { token: shared } : {}), ...(fetchImpl && !o.fetch ? { fetch: fetchImpl } : {}) });
  }
  const oidcOption = options.auth?.oidc;
  const oidc = oidcOption instanceof OidcClient ? oidcOption : oidcOption ? new OidcClient({ ...oidcOption, ...(fetchImpl && !oidcOption.fetch ? { fetch: fetchImpl } : {}) }) : undefined;
  const staging = new Staging({
    ...options.staging,
    rucio,
    storageToken: options.staging?.storageToken ?? options.auth?.storageToken ?? shared,
    fetch: options.staging?.fetch ?? fetchImpl,
  });
  const auth: DataLakeAuth = {
    token: shared,
    source: options.auth?.source,
    get oidc(): OidcClient {
      if (!oidc) throw new ConfigError('OIDC_ISSUER', 'no OIDC client configured (pass auth.oidc, or set OIDC_ISSUER and OIDC_CLIENT_ID)');
      return oidc;
    },
  };
  return {
    rucio,
    get esap(): EsapClient {
      if (!esap) throw new ConfigError('ESAP_URL', 'ESAP is not configured (pass "esap", or set ESAP_URL)');
      return esap;
    },
    auth,
    staging,
  };
}
