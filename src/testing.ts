/**
 * Test helpers: an emulated Data Lake for anyone's tests.
 *
 * `createRucioEmulator()` is an in-memory Rucio server that answers like the real REST API (status
 * codes, headers and body bytes as recorded from Rucio 41), reachable through msw handlers, an
 * injected `fetch`, or a loopback HTTP server.
 *
 * @example
 * ```ts
 * import { createRucioEmulator } from 'dlaas/testing';
 * import { setupServer } from 'msw/node';
 *
 * const rucio = createRucioEmulator();
 * const server = setupServer(...rucio.handlers());
 * server.listen({ onUnhandledFrame: 'error' });
 * ```
 * @module dlaas/testing
 */
export { VERSION } from './core/version.js';
export { createRucioEmulator } from './testing/rucio/emulator.js';
export type { DidLike, RucioEmulator } from './testing/rucio/emulator.js';
export type { FetchEmulatorApi } from './testing/fetch-emulator.js';
export type { JwtIssuerConfig } from './testing/rucio/jwt.js';
export type {
  AccountOptions,
  OidcOptions,
  ProtocolOptions,
  ProtocolPriorities,
  RequestLogEntry,
  RseOptions,
  RucioEmulatorOptions,
  SeedDatasetOptions,
  SeededFile,
  SeedFile,
  SyntheticDatasetOptions,
} from './testing/rucio/types.js';
export * from './testing/esap/index.js';
export { createJwtValidator, oidcIdentity, type JwtAcceptance, type JwtValidator, type JwtValidatorOptions } from './testing/rucio/jwt.js';
export { createDataLakeEmulator, type DataLakeEmulator, type DataLakeEmulatorOptions, type DataLakeUserOptions } from './testing/datalake.js';
export { createStorageEmulator, createWlcgTokenIssuer, createWlcgTokenVerifier, FULL_STORAGE_SCOPE, WLCG_ANY_AUDIENCE } from './testing/storage/index.js';
export type { DigestAlgorithm, MintTokenOptions, StorageEmulator, StorageEmulatorOptions, StorageFault, StorageRequestRecord, TokenGrant, WlcgTokenIssuer, WlcgTokenIssuerOptions, WlcgTokenVerifierOptions } from './testing/storage/index.js';
