// `npm run bench`: runs every benchmark in bench/*.bench.mjs, writes bench/results.json and prints a table.
// Benchmarks are not tests: they report medians and spreads, they never fail on a timing.
//   npm run bench                       full run (several minutes)
//   npm run bench -- --quick            smaller sizes, fewer repetitions (a smoke run)
//   npm run bench -- replicas checksum  only the files whose name starts with these words
// A full run of every benchmark also writes bench/results.latest.json (committed: the README quotes it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

const dir = new URL('.', import.meta.url);
const args = process.argv.slice(2);

// The figures are defined for Node 24. `npm run` may put the devDependency `node22`'s binary first on
// PATH (both packages install a `node` bin): run ourselves with the project's Node 24 then.
const node24 = new URL('../node_modules/node/bin/node', dir).pathname;
if (Number(process.versions.node.split('.')[0]) < 24 && existsSync(node24) && !process.env.DLAAS_BENCH_REEXEC) {
  console.log(`bench: ${process.version} found first on PATH; running with ${node24}`);
  const r = spawnSync(node24, [new URL(import.meta.url).pathname, ...args], { stdio: 'inherit', env: { ...process.env, DLAAS_BENCH_REEXEC: '1' } });
  process.exit(r.status ?? 1);
}

const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.mjs') && (only.length === 0 || only.some((o) => f.startsWith(o)))).sort();
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cpus: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  os: `${process.platform} ${release()}`,
  node: process.version,
  loadAtStart: loadavg().map((l) => Number(l.toFixed(2))),
  date: new Date().toISOString(),
  quick,
};
console.log(`machine: ${machine.cpu} × ${machine.cpus}, ${machine.memoryGiB} GiB, node ${machine.node}, load ${machine.loadAtStart.join(' ')}${quick ? ' (--quick)' : ''}`);

// Each benchmark runs in a process of its own: what one leaves behind (GiB of buffers, a grown heap,
// servers) must not change another's figures. A process that holds GiB spawns children far more
// slowly, which once tripled the start-up times that first-answer measures.
const results = [];
const scratch = mkdtempSync(join(tmpdir(), 'dlaas-bench-'));
try {
  for (const f of files) {
    const t = performance.now();
    process.stdout.write(`${f} … `);
    const out = join(scratch, `${f}.json`);
    const r = spawnSync(process.execPath, [new URL('run-one.mjs', dir).pathname, f, quick ? '1' : '0', out], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${f} failed (exit ${r.status ?? r.signal})`);
    const figures = JSON.parse(readFileSync(out, 'utf8'));
    for (const fig of figures) results.push({ file: f, ...fig, met: met(fig) });
    console.log(`${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/** Whether a figure meets its goal (`≥ 0.8`, `≤ 96`, `≤ +30`, `≤ 7 + polls`), or undefined without one. */
function met(fig) {
  const m = /^([≥≤])\s*\+?([\d.]+)/.exec(fig.goal ?? '');
  if (!m || typeof fig.median !== 'number') return undefined;
  return m[1] === '≥' ? fig.median >= Number(m[2]) : fig.median <= Number(m[2]);
}

const out = { machine, results };
writeFileSync(new URL('results.json', dir), `${JSON.stringify(out, null, 2)}\n`);
if (!quick && only.length === 0) writeFileSync(new URL('results.latest.json', dir), `${JSON.stringify(out, null, 2)}\n`);
if (results.length === 0) console.log('no benchmarks');
else {
  console.table(results.map((r) => ({ figure: r.figure, median: r.median, spread: r.spread, unit: r.unit, goal: r.goal ?? '', met: r.met === undefined ? '' : r.met ? 'yes' : 'NO' })));
  const notes = results.filter((r) => r.note);
  if (notes.length) console.log(notes.map((r) => `- ${r.figure}: ${r.note}`).join('\n'));
  console.log('spread = (max − min) / median of the repetitions; ratios are taken pairwise within the run. Written to bench/results.json.');
}
