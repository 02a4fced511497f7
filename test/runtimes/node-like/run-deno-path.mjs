// Deno with local path specifiers to the installed package's files.
import * as dlaas from './node_modules/dlaas/dist/index.js';
import * as node from './node_modules/dlaas/dist/node.js';
import { main } from './glue.mjs';

await main({ dlaas, node, entry: "import './node_modules/dlaas/dist/index.js'" });
