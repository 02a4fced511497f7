/**
 * Rucio and the identity, for the commands that talk to Rucio: the Node `createDataLake()` reduced
 * to `rucio`, `auth` and `config` (internal, not in `dlaas/node`), so that these commands load no
 * staging, ESAP or OIDC code. Imported when a command opens the lake (context.ts `openRucio`), so
 * `dlaas --help`, `--version` and usage errors load no HTTP client at all.
 * @module
 */
export { createRucioLake } from '../node/datalake-core.js';
