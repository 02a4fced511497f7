/**
 * The emulated Data Lake storage element (XRootD-like HTTP/WebDAV with WLCG tokens) and the WLCG
 * token helpers it uses.
 * @module
 */
export {
  createStorageEmulator,
  type DigestAlgorithm,
  type StorageEmulator,
  type StorageEmulatorOptions,
  type StorageFault,
  type StorageRequestRecord,
} from './emulator.js';
export {
  FULL_STORAGE_SCOPE,
  WLCG_ANY_AUDIENCE,
  createWlcgTokenIssuer,
  createWlcgTokenVerifier,
  type MintTokenOptions,
  type TokenGrant,
  type WlcgTokenIssuer,
  type WlcgTokenIssuerOptions,
  type WlcgTokenVerifierOptions,
} from './tokens.js';
