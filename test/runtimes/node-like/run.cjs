// Node, Bun: the package through `require` (its CommonJS build, ky inlined).
/* eslint-disable @typescript-eslint/no-require-imports -- the point of this runner is require() */
const dlaas = require('dlaas');
const node = require('dlaas/node');

const entry = `require('dlaas') → ${require.resolve('dlaas').replace(/^.*\/node_modules\//, '')}`;
import('./glue.mjs').then(({ main }) => main({ dlaas, node, entry }));
