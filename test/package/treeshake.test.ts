/**
 * Tree-shaking: an app that imports only the ESAP client (or only the Rucio and ESAP clients) gets
 * no OIDC (oauth4webapi, jose, the auth module) and no staging code (hash-wasm, the staging module),
 * both in the module graph of the sources and in a bundle of the shipped build (dist/).
 */
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bytesBySource } from './bundle-bytes.js';
import { root } from './packed.js';

const FORBIDDEN_PACKAGES = ['oauth4webapi', 'jose', 'hash-wasm'];

async function bundle(contents: string): Promise<Metafile> {
  const r = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'app.ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return r.metafile;
}

/** Modules that put bytes into the bundle (the metafile's `inputs` also lists modules shaken out entirely). */
const inputs = (metafile: Metafile) =>
  Object.values(metafile.outputs).flatMap((o) =>
    Object.entries(o.inputs)
      .filter(([, v]) => v.bytesInOutput > 0)
      .map(([k]) => k),
  );

describe('tree-shaking', () => {
  const surfaces = [
    { name: 'EsapClient only', imports: '{ EsapClient }', use: 'EsapClient' },
    { name: 'RucioClient + EsapClient', imports: '{ RucioClient, EsapClient }', use: 'RucioClient, EsapClient' },
  ];

  for (const s of surfaces) {
    it(`${s.name}: the sources' module graph has no auth or staging module and no OIDC/checksum package`, async () => {
      const metafile = await bundle(`import ${s.imports} from './src/index.ts'; console.log(${s.use});`);
      const files = inputs(metafile);
      expect(files.some((f) => f.startsWith('src/esap/'))).toBe(true);
      expect(files.filter((f) => /^src\/(auth|staging)\//.test(f))).toEqual([]);
      expect(files.filter((f) => FORBIDDEN_PACKAGES.some((p) => f.includes(`node_modules/${p}/`)))).toEqual([]);
    });
  }

  it('the shipped build (dist/) keeps it: no byte of OIDC or staging code when importing only EsapClient', async () => {
    const { bySource: bytes } = await bytesBySource(`import { EsapClient } from ${JSON.stringify(join(root, 'dist/index.js'))}; console.log(EsapClient);`);
    const oidcOrStaging = [...bytes].filter(([src]) => /\/src\/(auth\/oidc|auth\/claims\.ts|staging)\/?|\/node_modules\/(oauth4webapi|jose|hash-wasm)\//.test(src));
    expect(oidcOrStaging).toEqual([]);
    expect([...bytes.keys()].some((src) => src.includes('/src/esap/'))).toBe(true);
    // The same measure sees them when they are used.
    const { bySource: all } = await bytesBySource(`export * from ${JSON.stringify(join(root, 'dist/index.js'))};`);
    for (const part of ['/src/auth/oidc/client.ts', '/src/staging/staging.ts', '/node_modules/oauth4webapi/', '/node_modules/hash-wasm/']) {
      expect([...all.keys()].some((src) => src.includes(part)), part).toBe(true);
    }
  });
});
