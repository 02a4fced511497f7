#!/usr/bin/env node
/**
 * The `dlaas` executable (package.json `bin`).
 *
 * Ctrl-C and SIGTERM: while a long command runs, the first one stops it cleanly (exit 130 / 143,
 * with what is left on stderr); a second one quits at once.
 * @module
 */
import { run } from './cli.js';

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
