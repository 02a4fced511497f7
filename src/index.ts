/**
 * dlaas: the ESCAPE Data Lake as a Service SDK.
 *
 * The isomorphic entry point: runs unchanged in browsers (including MV3 extension service workers),
 * Node ≥ 22, Deno ≥ 2 and Bun. It uses only web-standard APIs (fetch, streams, WebCrypto).
 *
 * @example
 * ```ts
 * import { parseDid, formatDid } from 'dlaas';
 * formatDid(parseDid('user.jdoe:run1/image.fits')); // 'user.jdoe:run1/image.fits'
 * ```
 * @module
 */
export * from './core/index.js';
export { Listing } from './core/listing.js';
export * from './rucio/index.js';
export * from './esap/index.js';
export * from './staging/index.js';
export * from './auth/index.js';
export { createDataLake, type DataLake, type DataLakeAuth, type DataLakeAuthOptions, type DataLakeOptions } from './datalake.js';
