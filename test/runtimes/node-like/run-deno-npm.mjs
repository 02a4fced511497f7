// Deno, as a notebook cell would: `npm:` specifiers, resolved from the project's node_modules
// (`--node-modules-dir=manual`; nothing is downloaded).
import * as dlaas from 'npm:dlaas';
import * as node from 'npm:dlaas/node';
import { main } from './glue.mjs';

await main({ dlaas, node, entry: "import 'npm:dlaas'" });
