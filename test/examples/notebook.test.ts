/**
 * examples/deno-notebook.ipynb executed cell by cell, in order, by Jupyter (Debian's nbconvert) with
 * the Deno kernel (the project's `deno`, a kernelspec in a scratch JUPYTER_PATH), against the embedded
 * local Data Lake; then its saved outputs are checked: the basket table, the staging display updated
 * to OK, the verified files, the image (a valid PNG), the upload. The LOFAR example runs first on the
 * same lake (as a user may have done): the notebook's image has other bytes, so it must not reuse the
 * example's DID names.
 */
import { aptInstallSync } from '../support/apt.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { checkPng, requireBuild, root, runNode, start } from './helpers.ts';

const JUPYTER = '/usr/bin/jupyter';

/** Debian's nbconvert and nbclient: installed with apt when running as root, else say what to install (never skip). */
function ensureJupyter(): void {
  const have = () => existsSync(JUPYTER) && existsSync('/usr/lib/python3/dist-packages/nbconvert') && existsSync('/usr/lib/python3/dist-packages/nbclient');
  if (have()) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) throw new Error('Jupyter is missing: run `sudo apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbclient jupyter-client`');
  aptInstallSync(['jupyter-nbconvert', 'python3-nbclient', 'jupyter-client']);
  if (!have()) throw new Error('apt-get ran but nbconvert/nbclient are still missing');
}

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}
const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

let lake: LocalLake;
let work: string;
beforeAll(async () => {
  requireBuild();
  ensureJupyter();
  lake = await startLocalLake({ conveyorMs: 100 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-notebook-'));
}, 600_000);
afterAll(async () => {
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/deno-notebook.ipynb', () => {
  it('runs every cell in order with the Deno kernel and shows the basket, the staging, the image, the upload', async () => {
    const kernels = join(work, 'jupyter', 'kernels', 'deno');
    mkdirSync(kernels, { recursive: true });
    const deno = join(root, 'node_modules', '.bin', 'deno');
    writeFileSync(join(kernels, 'kernel.json'), JSON.stringify({ argv: [deno, 'jupyter', '--kernel', '--conn', '{connection_file}'], display_name: 'Deno', language: 'typescript', env: { NO_COLOR: '1' } }));
    // The LOFAR example first, on the same lake: it uploads user.jdoe:L802012_3C196_dirty.{fits,png}.
    const example = await runNode([join(root, 'examples', 'lofar-image-roundtrip.ts')], { env: { ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }), HOME: work }, cwd: work });
    expect(example.stderr).toBe('');
    expect(example.code).toBe(0);
    const results = join(work, 'results');
    const env = {
      ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }),
      DLAAS_WORK_DIR: results,
      DLAAS_POLL_MS: '100',
      HOME: work,
      JUPYTER_PATH: join(work, 'jupyter'),
      JUPYTER_CONFIG_DIR: join(work, 'jupyter-config'),
      JUPYTER_DATA_DIR: join(work, 'jupyter-data'),
      JUPYTER_RUNTIME_DIR: join(work, 'jupyter-runtime'),
      DENO_DIR: join(work, 'deno'),
      XDG_CACHE_HOME: join(work, 'cache'),
      PATH: `${join(root, 'node_modules', '.bin')}:/usr/bin:/bin`,
    };
    const run = start(['nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=120', '--output-dir', work, '--output', 'executed.ipynb', join(root, 'examples', 'deno-notebook.ipynb')], { command: JUPYTER, env, cwd: work });
    const r = await run.done;
    expect(r.stderr + r.stdout).not.toMatch(/CellExecutionError/);
    expect(r.code).toBe(0);

    const nb = JSON.parse(readFileSync(join(work, 'executed.ipynb'), 'utf8')) as { cells: Cell[] };
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    const outputs = code.map((c) => c.outputs ?? []);
    expect(outputs.flat().filter((o) => o.output_type === 'error')).toEqual([]);
    const all = (i: number) => outputs[i]!.map((o) => text(o.text) + Object.values(o.data ?? {}).map(text).join('\n')).join('\n');

    expect(all(1)).toContain('jdoe'); // logged in (the hub's token)
    // The basket as an HTML table (Deno.jupyter.html).
    const basketHtml = outputs[2]!.map((o) => text(o.data?.['text/html'])).join('');
    expect(basketHtml).toMatch(/<td>rucio<\/td><td><code>lofar:L802012_3C196<\/code><\/td><td>Rucio DID<\/td>/);
    expect(basketHtml).toMatch(/<td>astron_vo<\/td>.*3C196_cutout\.fits.*<td>URL<\/td>/s);
    // The staging display (display_id "staging"), updated in place to the rule's final state.
    const staging = outputs[3]!.find((o) => o.output_type === 'display_data');
    expect(text(staging?.data?.['text/html'])).toMatch(/<progress value="4" max="4"><\/progress> 4\/4<\/td><td><b>OK<\/b>/);
    // (Its "4/4 files AVAILABLE" result line is not checked: the Deno kernel can report a cell done before
    // the cell's last output is sent, and nbconvert then drops it; the display above says the same.)
    // The staged files, each checked against the catalogue.
    expect(text(outputs[4]!.find((o) => o.data?.['text/markdown'])?.data?.['text/markdown']).match(/✓ \| `[0-9a-f]{8}…` ✓/g)).toHaveLength(4);
    // The image: shown inline as a PNG, written to disk.
    // The cell's result line (see above: the kernel may drop it) must be right when it is there.
    if (all(5).includes('Jy/beam')) expect(all(5)).toMatch(/peak 8\d\.\d Jy\/beam at RA 123\.40\d°/);
    const inline = outputs[5]!.find((o) => o.data?.['image/png']);
    expect(checkPng(new Uint8Array(Buffer.from(text(inline?.data?.['image/png']), 'base64')))).toMatchObject({ width: 128, height: 128 });
    const name = /L802012_3C196_dirty_\d{8}T\d{6}Z/.exec(all(5) + readdirSync(results).join('\n'))?.[0];
    expect(name).toBeDefined();
    expect(existsSync(join(results, `${name}.fits`))).toBe(true);
    // The upload, with its rule.
    expect(all(6)).toContain(`Uploaded \`user.jdoe:${name}.fits\` (OK), \`user.jdoe:${name}.png\` (OK) into \`user.jdoe:L802012_images\` on CERN-EOS; rule `);
    expect(all(6)).toMatch(/; rule [0-9a-f]{32} OK\./);
    // The notebook's two files and the example's two, side by side in the results dataset.
    expect([...lake.emulator.rucio.fileReplicas()].filter((x) => x.did.scope === 'user.jdoe' && x.did.name.startsWith('L802012_3C196_dirty') && x.state === 'AVAILABLE')).toHaveLength(4);
    // No token in the saved notebook.
    expect(readFileSync(join(work, 'executed.ipynb'), 'utf8')).not.toContain(lake.token);
  }, 300_000);
});
