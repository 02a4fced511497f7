/**
 * Node-only helpers (filesystem, environment). Also runs under Deno and Bun through their Node
 * compatibility. Not for browsers: the package marks this entry `"browser": null`.
 * @module
 */
export { VERSION } from './core/version.js';
