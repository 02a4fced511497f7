import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import type { Plugin } from 'esbuild';

/**
 * hash-wasm in the CLI: loaded on the first checksum, not at start-up (268 kB: every algorithm's
 * WebAssembly, which no bundler can tree-shake). The SDK's only uses are `await createAdler32()` and
 * `await createMD5()`, so src/cli/lazy-hash-wasm.ts stands in for the package there, and only there.
 */
const lazyHashWasm: Plugin = {
  name: 'dlaas-lazy-hash-wasm',
  setup(build) {
    const shim = fileURLToPath(new URL('./src/cli/lazy-hash-wasm.ts', import.meta.url));
    build.onResolve({ filter: /^hash-wasm$/ }, (args) => (args.importer === shim ? undefined : { path: shim }));
  },
};

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
    // The `dlaas` CLI (package.json `bin`): Node only, ESM, the SDK and its dependencies inlined, so a
    // command starts by reading a few modules instead of resolving a graph of packages. dist/cli.js is
    // a small entry that turns on Node's compile cache and then imports the CLI; the CLI's code is in
    // dist/cli/, split where it imports lazily (src/cli/sdk-*.ts: Rucio, OIDC, the rest of the SDK;
    // `dlaas lake`; hash-wasm; cli-progress), so a command loads and runs only what it uses. (Not in
    // dist/ itself: dist/chunk-*.js are the isomorphic build's.)
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node22',
    platform: 'node',
    dts: false,
    sourcemap: true,
    clean: false,
    splitting: true,
    // `dlaas lake` loads dlaas/testing (msw) and oidc-provider only when it runs: they stay outside the bundle.
    external: ['dlaas/testing', 'oidc-provider'],
    noExternal: [/^(?!dlaas\/testing$|oidc-provider$)/],
    // CommonJS dependencies (cli-progress) call `require` for Node built-ins: give them one.
    banner: { js: "import { createRequire as __dlaasCreateRequire } from 'node:module'; const require = __dlaasCreateRequire(import.meta.url);" },
    treeshake: true,
    esbuildOptions(options) {
      options.chunkNames = 'cli/[name]-[hash]';
      // No comments or layout: less to read, hash and decode at every start (license notices are kept).
      // Names are not minified: error classes and stack traces read as in the source.
      options.minifyWhitespace = true;
      options.minifySyntax = true;
    },
    esbuildPlugins: [lazyHashWasm],
  },
]);
