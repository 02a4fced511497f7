/**
 * What a bundle's bytes are made of: bundle an entry (minified browser ESM, esbuild) and attribute
 * every output byte to the original source it maps to, through dist's own source maps (esbuild
 * composes them). Used by the tree-shaking test and the size report. Free of vitest imports.
 */
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '../..');

const VLQ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** A minified bundle and its bytes per original source. */
export interface BundleBytes {
  code: string;
  /** Output bytes per original source (paths as in the source map, e.g. `../src/esap/basket.ts`). */
  bySource: Map<string, number>;
}

/** Bundle `contents` (resolved from the repository root) and count its output bytes per original source. */
export async function bytesBySource(contents: string): Promise<BundleBytes> {
  const r = await build({ stdin: { contents, resolveDir: root, loader: 'js' }, bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, sourcemap: 'external', outfile: join(root, '.tmp/treeshake.js'), logLevel: 'silent' });
  const text = r.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
  const code = text.split('\n');
  const map = JSON.parse(r.outputFiles.find((f) => f.path.endsWith('.map'))!.text) as { sources: string[]; mappings: string };
  const out = new Map<string, number>();
  let source = 0;
  map.mappings.split(';').forEach((line, row) => {
    const segments: { col: number; source: number | undefined }[] = [];
    let col = 0;
    for (const seg of line.split(',')) {
      if (!seg) continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = VLQ.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -(value >> 1) : value >> 1);
          value = 0;
          shift = 0;
        }
      }
      col += values[0]!;
      if (values.length >= 4) source += values[1]!;
      segments.push({ col, source: values.length >= 4 ? source : undefined });
    }
    segments.forEach((s, i) => {
      if (s.source === undefined) return;
      const end = segments[i + 1]?.col ?? code[row]!.length;
      const name = map.sources[s.source]!;
      out.set(name, (out.get(name) ?? 0) + end - s.col);
    });
  });
  return { code: text, bySource: out };
}
