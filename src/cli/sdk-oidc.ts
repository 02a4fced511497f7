/**
 * What `dlaas login`, `logout` and a command using the login's session need besides Rucio: the OIDC
 * client (oauth4webapi, jose) and the token store. Imported by context.ts when needed, so the CLI's
 * bundle keeps them in a chunk the other commands never load (from their modules, not the `dlaas`
 * entry, which would bring the whole SDK: see ./sdk-core.ts).
 * @module
 */
export { OidcClient } from '../auth/oidc/client.js';
export { fileStore } from '../node/file-store.js';
