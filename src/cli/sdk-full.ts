/**
 * The rest of the SDK, for the commands that use more than Rucio (the ESAP basket, staging,
 * uploads, file reads): imported when one of them runs (context.ts `openLake`), so the CLI's bundle
 * keeps it in chunks that `whoami`, `ls` or `rule …` never load.
 * @module
 */
export { fileSink } from 'dlaas/node';
export { createNodeDataLake as createDataLake } from '../node/datalake.js';
export { rucioItem } from 'dlaas';
