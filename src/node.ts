/**
 * Node-only helpers (filesystem, environment). Also runs under Deno and Bun through their Node
 * compatibility. Not for browsers: the package marks this entry `"browser": null`.
 *
 * @example
 * ```ts
 * import { loadDataLakeConfig, autoDetect, fromFile, loopbackLogin, fileStore } from 'dlaas/node';
 * const config = await loadDataLakeConfig(); // RUCIO_BASE_URL, …, and the token, with their sources
 * ```
 * @module dlaas/node
 */
export { VERSION } from './core/version.js';
export {
  DEFAULT_TOKEN_FILE,
  DEFAULT_TOKEN_VARIABLES,
  autoDetect,
  fileCandidate,
  fromEnv,
  fromFile,
  fromJupyterHub,
  wlcgDiscovery,
  type AutoDetectOptions,
  type Env,
  type FileCandidateOptions,
  type FromJupyterHubOptions,
  type NodeSourceOptions,
  type WlcgDiscoveryOptions,
} from './node/sources.js';
export { fileStore } from './node/file-store.js';
export { loopbackLogin, type LoopbackLoginOptions } from './node/loopback.js';
export { loadDataLakeConfig, type DataLakeConfig, type DataLakeMode, type LoadDataLakeConfigOptions } from './node/config.js';
export { fileSink, statFile, type FileSinkOptions } from './node/file-sink.js';
export { createDataLake, type ConfiguredDataLake, type NodeDataLakeOptions } from './node/datalake.js';
export { nodeStorageHttp, type NodeStorageHttpOptions } from './node/storage-http.js';
export { workerHashing, type WorkerHashing, type WorkerHashJob, type WorkerHashingOptions } from './node/hash-workers.js';
