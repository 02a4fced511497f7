// Time to first answer: process start → import dlaas → first rucio.ping() answered on loopback, vs
// process start → bare fetch of the same URL (and `node` doing nothing), in fresh processes, interleaved.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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
  const modes = ['none', 'bare', 'sdk', 'bundled', 'cli'];
  const t = { sdk: [], bare: [], none: [], bundled: [], cli: [] };
  // The CLI as users start it: `dlaas whoami` (one Rucio request) with the DLaaS environment, no config files.
  const home = `${root}.tmp/bench/home`;
  mkdirSync(home, { recursive: true });
  const cliEnv = { RUCIO_BASE_URL: url, RUCIO_ACCOUNT: 'root', RUCIO_ACCESS_TOKEN: token, HOME: home, JUPYTER_CONFIG_DIR: home };
  const run = (mode) => (mode === 'cli' ? wall([`${root}dist/cli.js`, 'whoami', '--json'], cliEnv) : wall([`${here}fixtures/first-answer.mjs`, base, mode, bundled]));
  try {
    for (const mode of modes) await run(mode); // warm the file cache
    for (let i = 0; i < reps; i++) for (const mode of modes) t[mode].push(await run(mode));
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  const extra = t.sdk.map((s, i) => s - t.bare[i]);
  const extraBundled = t.bundled.map((s, i) => s - t.bare[i]);
  const extraCli = t.cli.map((s, i) => s - t.bare[i]);
  const r = (x) => Number(x.toFixed(1));
  return [
    { figure: 'first answer: node + import dlaas + rucio.ping()', median: r(median(t.sdk)), spread: spread(t.sdk), unit: 'ms' },
    { figure: 'first answer: node + bare fetch', median: r(median(t.bare)), spread: spread(t.bare), unit: 'ms' },
    { figure: 'first answer: node doing nothing', median: r(median(t.none)), spread: spread(t.none), unit: 'ms' },
    { figure: 'first answer: dlaas − bare fetch', median: r(median(extra)), spread: spread(extra), unit: 'ms', goal: '≤ +30' },
    { figure: 'first answer: dlaas CLI (`dlaas whoami`, one bundled file) − bare fetch', median: r(median(extraCli)), spread: spread(extraCli), unit: 'ms', goal: '≤ +30', note: `dlaas whoami ${r(median(t.cli))} ms` },
    { figure: 'first answer: dlaas bundled with its dependencies − bare fetch', median: r(median(extraBundled)), spread: spread(extraBundled), unit: 'ms', note: 'esbuild of dist/index.js into one file: what shipping the ESM build with ky/zod/jose/oauth4webapi inlined would give' },
  ];
}
