#!/usr/bin/env node
/**
 * The `dlaas` executable (package.json `bin`).
 * @module
 */
import { run } from './cli.js';

const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
process.exitCode = code;
