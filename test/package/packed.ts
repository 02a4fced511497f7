/**
 * The artifact users install: `npm pack` the built package and install the tarball into a scratch
 * project under the OS temp dir (as an app would, with its real dependencies from the registry or
 * npm's cache). Shared by the packaging test and the runtime matrix. Free of vitest imports.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root. */
export const root = resolve(import.meta.dirname, '../..');

/** A scratch project with the packed tarball installed. */
export interface PackedInstall {
  /** The scratch project (has `package.json` and `node_modules/dlaas`). */
  dir: string;
  /** Absolute path of the tarball. */
  tarball: string;
  /** Remove the scratch project. */
  cleanup(): void;
}

/** Run a command, returning stdout; on failure the error carries stdout and stderr. */
export function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error', ...env } });
}

/**
 * Pack the repository (dist/ must be built: `npm test` builds before vitest) and install the
 * tarball plus `extra` packages (e.g. `msw@^3.0.5`, the optional peer of `dlaas/testing`).
 */
export function packAndInstall(prefix: string, extra: readonly string[] = []): PackedInstall {
  if (!existsSync(join(root, 'dist/index.js')) || !existsSync(join(root, 'dist/index.cjs'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const out = run('npm', ['pack', '--json', '--pack-destination', dir], root);
    const tarball = join(dir, (JSON.parse(out) as { filename: string }[])[0]!.filename);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, version: '0.0.0', type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...extra], dir);
    return { dir, tarball, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
