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
    // The `dlaas` CLI (package.json `bin`): Node only, ESM, one file with the SDK and its dependencies
    // inlined, so a command starts by reading one module instead of resolving a graph of packages.
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node22',
    platform: 'node',
    dts: false,
    sourcemap: true,
    clean: false,
    splitting: false,
    // `dlaas lake` loads dlaas/testing (msw) and oidc-provider only when it runs: they stay outside the bundle.
    external: ['dlaas/testing', 'oidc-provider'],
    noExternal: [/^(?!dlaas\/testing$|oidc-provider$)/],
    // CommonJS dependencies (cli-progress) call `require` for Node built-ins: give them one.
    banner: { js: "import { createRequire as __dlaasCreateRequire } from 'node:module'; const require = __dlaasCreateRequire(import.meta.url);" },
    treeshake: true,
  },
]);
