/**
 * dlaas: the ESCAPE Data Lake as a Service SDK.
 *
 * The isomorphic entry point: runs unchanged in browsers (including MV3 extension service workers),
 * Node ≥ 22, Deno ≥ 2 and Bun. It uses only web-standard APIs (fetch, streams, WebCrypto).
 *
 * Start with {@link createDataLake}, then `lake.staging.stage` and `lake.staging.upload`.
 *
 * @example
 * ```ts
 * import { createDataLake } from 'dlaas';
 *
 * const lake = createDataLake({ rucio: { baseUrl: 'https://rucio.example.org' }, auth: { token: () => getAccessToken() } });
 * const staged = await lake.staging.stage(['lofar:L802012_3C196'], { mode: 'download', rse: 'SITE_A' });
 * const up = await lake.staging.upload([{ name: 'image.fits', data: fits }], { scope: 'user.jdoe', rse: 'SITE_A', rule: true });
 * ```
 * @module dlaas
 */
export * from './core/index.js';
export { Listing } from './core/listing.js';
export * from './rucio/index.js';
export * from './esap/index.js';
export * from './staging/index.js';
export * from './auth/index.js';
export { createDataLake, type DataLake, type DataLakeAuth, type DataLakeAuthOptions, type DataLakeOptions } from './datalake.js';
