/**
 * The examples and the notebook against `dlaas lake` (a process of its own), configured only by the
 * environment it prints, as a laptop user runs them: no token, an OIDC device login (approved by the
 * lake at once: `--approve-logins`, since nbconvert shows no output until the notebook is done).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLakeProcess, stopAllLakes, type LakeProcess } from '../cli/lake-process.ts';
import { requireBuild, root, runNode, start } from './helpers.ts';

const JUPYTER = '/usr/bin/jupyter';

let work: string;
let lake: LakeProcess;

beforeAll(async () => {
  requireBuild();
  work = mkdtempSync(join(tmpdir(), 'dlaas-lake-examples-'));
  lake = await startLakeProcess(['--approve-logins'], work);
});

afterAll(async () => {
  if (lake) {
    lake.child.kill('SIGINT');
    expect((await lake.done).code).toBe(0);
  }
  stopAllLakes();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples against dlaas lake', () => {
  it('lofar-image-roundtrip.ts: device login, basket, staging on the mount, image, upload with a rule', async () => {
    const cwd = mkdtempSync(join(work, 'lofar-'));
    const r = await runNode([join(root, 'examples', 'lofar-image-roundtrip.ts')], { env: { ...lake.info.env, HOME: work }, cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ jdoe <jdoe@escape\.test> .* token from OIDC device login/);
    expect(r.stdout).toContain('4/4 files AVAILABLE');
    expect(existsSync(join(cwd, 'lofar-results', 'L802012_3C196_dirty.fits'))).toBe(true);
  }, 120_000);

  it('cta-km3net-combine.ts: stages two experiments together and writes the combined table', async () => {
    const cwd = mkdtempSync(join(work, 'cta-'));
    const r = await runNode([join(root, 'examples', 'cta-km3net-combine.ts')], { env: { ...lake.info.env, HOME: work }, cwd });
    expect(r.code).toBe(0);
    expect(readFileSync(join(cwd, 'cta-km3net-results', 'combined_sources.csv'), 'utf8')).toMatch(/RX J1713\.7-3946/);
  }, 120_000);
});

describe('examples/deno-notebook.ipynb against dlaas lake', () => {
  it('runs every cell with the Deno kernel, logging in at the lake', async () => {
    if (!existsSync(JUPYTER)) throw new Error('Jupyter is missing: test/examples/notebook.test.ts installs it (or: apt-get install jupyter-nbconvert python3-nbclient jupyter-client)');
    const kernels = join(work, 'jupyter', 'kernels', 'deno');
    mkdirSync(kernels, { recursive: true });
    writeFileSync(join(kernels, 'kernel.json'), JSON.stringify({ argv: [join(root, 'node_modules', '.bin', 'deno'), 'jupyter', '--kernel', '--conn', '{connection_file}'], display_name: 'Deno', language: 'typescript', env: { NO_COLOR: '1' } }));
    const env = {
      ...lake.info.env,
      DLAAS_WORK_DIR: join(work, 'results'),
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
    const nb = JSON.parse(readFileSync(join(work, 'executed.ipynb'), 'utf8')) as { cells: { cell_type: string; outputs?: { output_type: string; text?: string | string[]; data?: Record<string, string | string[]> }[] }[] };
    const outputs = nb.cells.filter((c) => c.cell_type === 'code').map((c) => c.outputs ?? []);
    expect(outputs.flat().filter((o) => o.output_type === 'error')).toEqual([]);
    const all = JSON.stringify(outputs);
    expect(all).toContain('OIDC device login');
    // The staging display at its end (the cell's result line can be dropped: see notebook.test.ts).
    expect(all).toMatch(/4\/4<\/td><td><b>OK<\/b>/);
    expect(all).toMatch(/rule [0-9a-f]{32} OK/);
  }, 300_000);
});
