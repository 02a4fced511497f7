import { defineConfig } from 'tsup';

const entry = { index: 'src/index.ts', node: 'src/node.ts', testing: 'src/testing.ts' };

export default defineConfig([
  {
    // ESM: dependencies stay external, so bundlers dedupe and tree-shake them.
    entry,
    format: ['esm'],
    target: 'es2022',
    platform: 'neutral',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: true,
    treeshake: true,
  },
  {
    // CJS: ky 2 is ESM-only and its default export breaks under require(esm) interop,
    // so it is inlined here (and only here). Named-export ESM deps (jose, oauth4webapi) work as is.
    entry,
    format: ['cjs'],
    target: 'es2022',
    platform: 'neutral',
    dts: true,
    sourcemap: true,
    clean: false,
    noExternal: ['ky'],
    treeshake: true,
  },
  {
    // The `dlaas` CLI (package.json `bin`): Node only, ESM. It uses the SDK through the package's own
    // entry points (self-reference), so dist/cli.js holds only the CLI and no second copy of the SDK.
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node22',
    platform: 'node',
    dts: false,
    sourcemap: true,
    clean: false,
    splitting: false,
    external: ['dlaas', 'dlaas/node'],
    treeshake: true,
  },
]);
