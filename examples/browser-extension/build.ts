/**
 * Build the extension into a directory to load unpacked (chrome://extensions → "Load unpacked"):
 *
 *   npx node examples/browser-extension/build.ts [OUT_DIR]     (default examples/browser-extension/dist)
 *
 * esbuild bundles the worker, the popup and the options page with dlaas (ES modules, no eval, no
 * dynamic import: what MV3 allows).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { isMain } from '../lib/console.ts';

const here = import.meta.dirname;

/** Build into `outDir`; returns it. */
export async function buildExtension(outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { sw: join(here, 'sw.ts'), popup: join(here, 'popup.ts'), options: join(here, 'options.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: outDir,
    logLevel: 'error',
  });
  for (const f of ['manifest.json', 'popup.html', 'options.html']) await copyFile(join(here, f), join(outDir, f));
  return outDir;
}

if (isMain(import.meta)) {
  const out = resolve(process.argv[2] ?? join(here, 'dist'));
  await buildExtension(out);
  console.log(`Built the extension in ${out}: load it unpacked, then set the Data Lake in its options.`);
}
