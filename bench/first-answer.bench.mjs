// Time to first answer: process start → import dlaas → first rucio.ping() answered on loopback, vs
// process start → bare fetch of the same URL (and `node` doing nothing), in fresh processes, interleaved.
// Also the `dlaas` CLI as users start it (`dlaas whoami`), with Node's compile cache warm (every run
// after the first) and cold (the first run after an install or upgrade: it compiles and writes the cache).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as esbuild from 'esbuild';
import { once } from 'node:events';
import { median, spread } from './stats.mjs';

const here = new URL('.', import.meta.url).pathname;
const root = new URL('..', import.meta.url).pathname;

async function wall(args, env) {
  const t = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${args.join(' ')} exited with ${code}`);
  return performance.now() - t;
}

/** The Rucio requests one `dlaas whoami` makes, as an in-process emulator logs them. */
async function whoamiRequests(home) {
  const { createRucioEmulator } = await import('dlaas/testing');
  const emu = createRucioEmulator();
  const url = await emu.listen();
  try {
    const token = emu.issueToken('root');
    await wall([`${root}dist/cli.js`, 'whoami', '--json'], { RUCIO_BASE_URL: url, RUCIO_ACCOUNT: 'root', RUCIO_ACCESS_TOKEN: token, HOME: home, JUPYTER_CONFIG_DIR: home, NODE_DISABLE_COMPILE_CACHE: '1' });
    return emu.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
  } finally {
    await emu.close();
  }
}

export default async function firstAnswer({ quick = false } = {}) {
  const server = spawn(process.execPath, [`${here}fixtures/rucio-server.mjs`, '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(server.stdout, 'data');
  const { url, token } = JSON.parse(String(line));
  const base = `${url}/`;
  const reps = quick ? 5 : 21;
  // What the import costs once dlaas and its dependencies are one file (a packaging option, measured here).
  const bundled = `${root}.tmp/bench/dlaas-bundled.mjs`;
  mkdirSync(`${root}.tmp/bench`, { recursive: true });
  await esbuild.build({ entryPoints: [`${root}dist/index.js`], bundle: true, format: 'esm', platform: 'node', outfile: bundled, logLevel: 'silent' });
  // The CLI as users start it: `dlaas whoami` (Rucio's whoami: a 303 to the account, then the account)
  // with the DLaaS environment, no config files; its compile cache in a directory of the bench's own.
  const home = `${root}.tmp/bench/home`;
  mkdirSync(home, { recursive: true });
  const cache = `${root}.tmp/bench/compile-cache`;
  rmSync(cache, { recursive: true, force: true });
  const cliEnv = { RUCIO_BASE_URL: url, RUCIO_ACCOUNT: 'root', RUCIO_ACCESS_TOKEN: token, HOME: home, JUPYTER_CONFIG_DIR: home };
  const cli = (args, compileCache) => wall([`${root}dist/cli.js`, ...args], { ...cliEnv, NODE_COMPILE_CACHE: compileCache });
  // Cold: a new, empty cache directory for every run (what the first run after an install pays).
  const cold = (args) => {
    const dir = mkdtempSync(`${root}.tmp/bench/compile-cache-cold-`);
    return cli(args, dir).finally(() => rmSync(dir, { recursive: true, force: true }));
  };
  const runs = {
    none: () => wall([`${here}fixtures/first-answer.mjs`, base, 'none']),
    bare: () => wall([`${here}fixtures/first-answer.mjs`, base, 'bare']),
    bareWhoami: () => wall([`${here}fixtures/first-answer.mjs`, base, 'bare-whoami'], { RUCIO_ACCESS_TOKEN: token, RUCIO_ACCOUNT: 'root' }),
    sdk: () => wall([`${here}fixtures/first-answer.mjs`, base, 'sdk']),
    bundled: () => wall([`${here}fixtures/first-answer.mjs`, base, 'bundled', bundled]),
    cli: () => cli(['whoami', '--json'], cache),
    cliCold: () => cold(['whoami', '--json']),
    cliVersion: () => cli(['--version'], cache),
  };
  const t = Object.fromEntries(Object.keys(runs).map((m) => [m, []]));
  try {
    for (const run of Object.values(runs)) await run(); // warm the file cache (and the CLI's compile cache)
    for (let i = 0; i < reps; i++) for (const [mode, run] of Object.entries(runs)) t[mode].push(await run());
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  const requests = await whoamiRequests(home);
  const minus = (a, b) => a.map((s, i) => s - b[i]);
  const extra = minus(t.sdk, t.bare);
  const extraBundled = minus(t.bundled, t.bare);
  const extraCli = minus(t.cli, t.bare);
  const extraCliCold = minus(t.cliCold, t.bare);
  const extraVersion = minus(t.cliVersion, t.none);
  const extraCliSame = minus(t.cli, t.bareWhoami);
  const extraWhoami = minus(t.bareWhoami, t.bare);
  const r = (x) => Number(x.toFixed(1));
  const said = `${requests.length} Rucio requests (${requests.join(', ')}) against the bare fetch's one`;
  return [
    { figure: 'first answer: node + import dlaas + rucio.ping()', median: r(median(t.sdk)), spread: spread(t.sdk), unit: 'ms' },
    { figure: 'first answer: node + bare fetch', median: r(median(t.bare)), spread: spread(t.bare), unit: 'ms' },
    { figure: 'first answer: node doing nothing', median: r(median(t.none)), spread: spread(t.none), unit: 'ms' },
    { figure: 'first answer: dlaas − bare fetch', median: r(median(extra)), spread: spread(extra), unit: 'ms', goal: '≤ +30', note: 'the library as an application imports it: dist/index.js and its dependencies as installed (ky, zod/mini, jose, oauth4webapi, hash-wasm: about 130 modules)' },
    { figure: 'first answer: dlaas CLI (`dlaas whoami`, compile cache warm) − bare fetch', median: r(median(extraCli)), spread: spread(extraCli), unit: 'ms', goal: '≤ +30', note: `dlaas whoami ${r(median(t.cli))} ms, every run after the first (Node's compile cache); ${said}, sent over node:http (the CLI's Rucio fetch), whose parser is native: nothing is compiled while the process ends` },
    { figure: 'first answer: dlaas CLI (`dlaas whoami`, compile cache cold) − bare fetch', median: r(median(extraCliCold)), spread: spread(extraCliCold), unit: 'ms', goal: '≤ +30', note: `dlaas whoami ${r(median(t.cliCold))} ms with an empty compile cache: the first run after an install or upgrade, which compiles the CLI's modules and writes the cache` },
    { figure: 'first answer: bare fetch of what `dlaas whoami` asks (accounts/whoami → 303 → account) − bare fetch', median: r(median(extraWhoami)), spread: spread(extraWhoami), unit: 'ms', note: `${r(median(t.bareWhoami))} ms: Node's fetch parsing a second response (or a larger one) tiers its HTTP parser (undici's llhttp, WebAssembly) up to TurboFan in the background, and the process waits for that compilation when it exits; the one short /ping answer of the bare fetch stays below that` },
    { figure: 'first answer: dlaas CLI (`dlaas whoami`, compile cache warm) − bare fetch of the same requests', median: r(median(extraCliSame)), spread: spread(extraCliSame), unit: 'ms', note: 'the CLI against a bare fetch that asks what it asks (the row above): what the CLI itself adds' },
    { figure: 'CLI start-up: `dlaas --version` − node doing nothing', median: r(median(extraVersion)), spread: spread(extraVersion), unit: 'ms', note: `dlaas --version ${r(median(t.cliVersion))} ms (compile cache warm): what --help, --version and a usage error cost; no HTTP client is loaded` },
    { figure: 'first answer: dlaas bundled with its dependencies − bare fetch', median: r(median(extraBundled)), spread: spread(extraBundled), unit: 'ms', note: 'esbuild of dist/index.js into one file: what shipping the ESM build with ky/zod/jose/oauth4webapi inlined would give' },
  ];
}
