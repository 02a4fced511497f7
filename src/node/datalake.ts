/**
 * Zero-configuration `createDataLake()` for notebooks and services (Node, Deno, Bun).
 * @module
 */
import { join } from 'node:path';
import { createDataLake as createFromOptions, type DataLake, type DataLakeOptions } from '../datalake.js';
import type { DataLakeConfig, LoadDataLakeConfigOptions } from './config.js';
import { resolveNodeLake, type RucioOverrides } from './datalake-core.js';
import { fileSink, statFile } from './file-sink.js';
import { nodeStorageHttp } from './storage-http.js';
import { workerHashing } from './hash-workers.js';
import type { Hashing } from '../staging/hashing.js';
import type { StorageHttp } from '../staging/http.js';

/** One bulk HTTP client per process: every lake shares its keep-alive connections. */
let sharedStorageHttp: StorageHttp | undefined;
/** One pool of hashing workers per process (idle workers never keep it alive). */
let sharedHashing: Hashing | undefined;

/** Options of the Node {@link createDataLake}: anything given here wins over the environment. */
export interface NodeDataLakeOptions extends Partial<DataLakeOptions> {
  /** Environment to read (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** How to read the configuration (Jupyter config file, instance, …). */
  config?: LoadDataLakeConfigOptions;
  /** Where download mode writes (default `$DLAAS_DOWNLOAD_DIR`, else `./dlaas-data`). */
  downloadDir?: string;
}

/** A {@link DataLake} with the configuration it was built from (values and where each came from). */
export interface ConfiguredDataLake extends DataLake {
  readonly config: DataLakeConfig;
}

/**
 * Build the SDK from the DLaaS environment of an ESCAPE notebook: `RUCIO_BASE_URL`, `RUCIO_AUTH_URL`,
 * `RUCIO_ACCOUNT`, `RUCIO_VO`, `RUCIO_DESTINATION_RSE`, `RUCIO_RSE_MOUNT_PATH`, `RUCIO_PATH_BEGINS_AT`,
 * `RUCIO_MODE`, `ESAP_URL`, the token (env, token file, JupyterHub, WLCG discovery), and the JupyterLab
 * extension's `RucioConfig`. A missing value is a `ConfigError` naming the variable to set;
 * `lake.config.sources` says where each value came from.
 *
 * Storage gets, in order: `auth.storageToken`, a token exchanged at `auth.oidc` when
 * `auth.storageTokenExchange` is set, a WLCG bearer token found by discovery (`BEARER_TOKEN`,
 * `BEARER_TOKEN_FILE`, `$XDG_RUNTIME_DIR/bt_u$UID`, `/tmp/bt_u$UID`) when the Rucio token came from
 * elsewhere, else the Rucio token; `lake.auth.storageSource` says which.
 *
 * Staging here moves file bytes with {@link nodeStorageHttp} (unless a `fetch` is given, which then
 * carries everything) and computes checksums in worker threads ({@link workerHashing}); downloads go
 * to a {@link fileSink} in `downloadDir`.
 *
 * @example
 * ```ts
 * import { createDataLake } from 'dlaas/node';
 * const lake = await createDataLake();
 * console.log(lake.config.sources); // { 'rucio.baseUrl': 'env:RUCIO_BASE_URL', token: 'env:RUCIO_ACCESS_TOKEN', ... }
 * const result = await lake.staging.stage(lake.esap.basket);
 * ```
 */
export function createDataLake(options: NodeDataLakeOptions = {}): Promise<ConfiguredDataLake> {
  return createNodeDataLake(options);
}

/** @internal {@link createDataLake} with Rucio client options laid over the configuration's (for the CLI). */
export async function createNodeDataLake(options: NodeDataLakeOptions = {}, overrides?: RucioOverrides): Promise<ConfiguredDataLake> {
  const { env, config, rucio, auth } = await resolveNodeLake(options, overrides);
  const downloadDir = options.downloadDir ?? env.DLAAS_DOWNLOAD_DIR ?? join(process.cwd(), 'dlaas-data');
  const lake = createFromOptions({
    ...options,
    rucio,
    ...(options.esap ?? config.esapUrl ? { esap: options.esap ?? { baseUrl: config.esapUrl as string } } : {}),
    auth,
    staging: {
      ...(config.destinationRse ? { destinationRse: config.destinationRse } : {}),
      ...(config.rseMountPath ? { rseMountPath: config.rseMountPath } : {}),
      ...(config.pathBeginsAt !== undefined ? { pathBeginsAt: config.pathBeginsAt } : {}),
      ...(config.mode ? { mode: config.mode } : {}),
      sink: () => fileSink(downloadDir),
      statFile,
      // File bytes over node:http (unless a custom fetch is asked for: then everything goes through it).
      ...(options.fetch || options.staging?.fetch ? {} : { storageHttp: (sharedStorageHttp ??= nodeStorageHttp()) }),
      // Checksums in worker threads, overlapping the socket reads and file writes of the main thread.
      hashing: (sharedHashing ??= workerHashing()),
      ...options.staging,
    },
  });
  return Object.assign(lake, { config }) as ConfiguredDataLake;
}
