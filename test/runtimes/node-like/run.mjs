// Node, Bun: the package through `import` (its ESM build).
import * as dlaas from 'dlaas';
import * as node from 'dlaas/node';
import { main } from './glue.mjs';

await main({ dlaas, node, entry: `import 'dlaas' → ${import.meta.resolve('dlaas').replace(/^.*\/node_modules\//, '')}` });
