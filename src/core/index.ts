/**
 * Core plumbing shared by every module: transport, errors, NDJSON streaming, DIDs, dates.
 * @module
 */
export * from './errors.js';
export * from './did.js';
export * from './dates.js';
export * from './ndjson.js';
export * from './token.js';
export * from './transport.js';
export * from './validate.js';
export { VERSION } from './version.js';
