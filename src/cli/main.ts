#!/usr/bin/env node
/**
 * The `dlaas` executable (package.json `bin`).
 *
 * Start-up: this entry is a few lines; the CLI and the SDK it bundles are loaded after V8's compile
 * cache is on (`module.enableCompileCache()`, Node ≥ 22.1: compiled code kept on disk in
 * `$NODE_COMPILE_CACHE`, else `node-compile-cache` in the OS temporary directory; off with
 * `NODE_DISABLE_COMPILE_CACHE=1`). A command's first run compiles and saves; later runs reuse it.
 * The CLI is split into chunks loaded when used (see tsup.config.ts): `--help`, `--version` and
 * usage errors load no HTTP client; Rucio-only commands (`whoami`, `ls`, `rule …`) no staging, ESAP
 * or OIDC code; checksums, progress bars and `dlaas lake` come only with the commands that use them.
 *
 * Ctrl-C and SIGTERM: while a long command runs, the first one stops it cleanly (exit 130 / 143,
 * with what is left on stderr); a second one quits at once.
 * @module
 */
import module from 'node:module';

// Optional: Deno and Bun have no compile cache (and the CLI still runs there).
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { run } = await import('./cli.js');
const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signals: process,
  exit: (c) => process.exit(c),
});
process.exitCode = code;
// After an interruption nothing should keep the process alive; if something does (a socket the
// runtime keeps open), do not hang on it. The timer itself does not hold the process.
if (code === 130 || code === 143) setTimeout(() => process.exit(code), 2000).unref();
