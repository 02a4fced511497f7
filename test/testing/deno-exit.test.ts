/**
 * A Deno program that imports `dlaas/testing`, uses the emulated Data Lake and ends must exit by
 * itself, as a user runs it: `deno run main.ts` in a project whose `node_modules/dlaas` is this
 * (built) package, with no `Deno.exit()` anywhere. (msw's `msw` index creates a module-level
 * BroadcastChannel that is unref'd only on Node; dlaas/testing must not load it.)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, start } from '../examples/helpers.ts';

/** Far above the second or so the program needs: reaching it means the program did not end by itself. */
const EXIT_BOUND_MS = 60_000;

const PROGRAM = `import { createDataLake } from 'dlaas';
import { createDataLakeEmulator } from 'dlaas/testing';

const emulator = await createDataLakeEmulator({ rses: ['SITE_A'] });
const token = emulator.addUser({ account: 'alice' });
await emulator.seedDataset({ scope: 'user.alice', name: 'demo', rse: 'SITE_A', files: [{ name: 'a.txt', content: 'hello' }] });
const lake = createDataLake({ rucio: { baseUrl: emulator.url }, auth: { token }, fetch: emulator.fetch });
console.log('whoami', (await lake.rucio.accounts.whoami()).account);
console.log('handlers', emulator.handlers().length);
await emulator.close();
console.log('done');
`;

let project: string;
beforeAll(() => {
  for (const f of ['dist/index.js', 'dist/testing.js']) if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does)`);
  project = mkdtempSync(join(tmpdir(), 'dlaas-deno-exit-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules', 'dlaas'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-program', private: true, type: 'module', dependencies: { dlaas: '*' } }));
  writeFileSync(join(project, 'main.ts'), PROGRAM);
});
afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('dlaas/testing under Deno', () => {
  it('a program that uses the emulator exits by itself when it is done', async () => {
    const deno = join(root, 'node_modules', '.bin', 'deno');
    const run = start(['run', '--node-modules-dir=manual', '--no-prompt', '--allow-read', '--allow-env', 'main.ts'], {
      command: deno,
      cwd: project,
      env: { DENO_DIR: join(project, '.deno'), NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', HOME: project },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      run.done,
      new Promise<'still running'>((resolve) => {
        timer = setTimeout(() => resolve('still running'), EXIT_BOUND_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'still running') run.kill();
    expect(outcome, `deno did not exit by itself; output:\n${run.stdout}\n${run.stderr}`).not.toBe('still running');
    const finished = outcome as Exclude<typeof outcome, string>;
    expect(finished.stderr).not.toMatch(/error/i);
    expect(finished.stdout).toContain('whoami alice');
    expect(finished.stdout).toContain('handlers 1');
    expect(finished.stdout).toMatch(/done\n?$/);
    expect(finished.code).toBe(0);
  }, EXIT_BOUND_MS + 30_000);
});
