/**
 * @internal What the Node `createDataLake()` reads (the configuration, a WLCG token for storage) and
 * how its `rucio` and `auth` are made of it, apart from the rest of the SDK: the CLI's commands that
 * need only Rucio (`dlaas whoami`, `ls`, `rule …`) start with this and load no staging, ESAP or OIDC
 * code. `createDataLake()` is built on the same {@link resolveNodeLake}.
 * @module
 */
import { createRucioLake as createRucioFromOptions, type RucioLake } from '../datalake-core.js';
import type { DataLakeAuthOptions, DataLakeOptions } from '../datalake.js';
import { loadDataLakeConfig, type DataLakeConfig } from './config.js';
import type { NodeDataLakeOptions } from './datalake.js';
import { wlcgDiscovery } from './sources.js';
import type { RucioClientOptions } from '../rucio/client.js';

/** @internal Rucio client options laid over the configuration's when it is not a client (the CLI's `fetch` and HTTP timeout). */
export type RucioOverrides = Partial<Pick<RucioClientOptions, 'fetch' | 'timeout'>>;

/** @internal The configuration found, and the `rucio` and `auth` options of `createDataLake` made of it (options given win). */
export interface ResolvedNodeLake {
  env: Record<string, string | undefined>;
  config: DataLakeConfig;
  rucio: DataLakeOptions['rucio'];
  auth: DataLakeAuthOptions;
}

/** @internal Read the configuration and find the storage token, as the Node `createDataLake()` does. */
export async function resolveNodeLake(options: NodeDataLakeOptions, overrides?: RucioOverrides): Promise<ResolvedNodeLake> {
  const env = options.env ?? process.env;
  const config = await loadDataLakeConfig(env, { requireToken: options.auth?.token === undefined, ...(options.fetch ? { fetch: options.fetch } : {}), ...options.config });
  const storage = options.auth?.storageToken === undefined && !options.auth?.storageTokenExchange ? await discoveredStorageToken(env, options.config?.uid, config.sources.token) : undefined;
  return {
    env,
    config,
    rucio: overrides && !options.rucio ? { ...config.rucio, ...overrides } : (options.rucio ?? config.rucio),
    auth: { ...(config.token ? { token: config.token, source: config.sources.token } : {}), ...(storage ? { storageToken: storage, storageSource: storage.source } : {}), ...options.auth },
  };
}

/** @internal A {@link RucioLake} with the configuration it was built from. */
export type ConfiguredRucioLake = RucioLake & { readonly config: DataLakeConfig };

/**
 * @internal The Node `createDataLake()` reduced to `rucio`, `auth` and `config`: the same
 * configuration, token and storage-token choice, without ESAP, staging, files or an OIDC client.
 */
export async function createRucioLake(options: NodeDataLakeOptions = {}, overrides?: RucioOverrides): Promise<ConfiguredRucioLake> {
  const { config, rucio, auth } = await resolveNodeLake(options, overrides);
  const lake = createRucioFromOptions({ ...options, rucio, auth });
  return Object.assign(lake, { config });
}

/**
 * A WLCG bearer token found by discovery, for storage, when the Rucio token is not that same token.
 * None found (or a file refused as unsafe) leaves storage to the fallback.
 */
async function discoveredStorageToken(env: Record<string, string | undefined>, uid: number | undefined, rucioSource: string | undefined) {
  const wlcg = wlcgDiscovery({ env, ...(uid !== undefined ? { uid } : {}) });
  try {
    await wlcg.getToken();
  } catch {
    return undefined;
  }
  return wlcg.source === rucioSource ? undefined : wlcg;
}
