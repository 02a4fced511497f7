// `npm run bench`: runs every benchmark in bench/*.bench.mjs, writes bench/results.json and prints a table.
// Benchmarks are not tests: they report medians and spreads, they never fail on a timing.
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

const dir = new URL('.', import.meta.url);
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.mjs') && (only.length === 0 || only.some((o) => f.startsWith(o)))).sort();
const results = [];
for (const f of files) {
  const mod = await import(new URL(f, dir).href);
  const figures = await mod.default({ quick: process.argv.includes('--quick') });
  for (const fig of figures) results.push({ file: f, ...fig });
}
const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString() };
writeFileSync(new URL('results.json', dir), JSON.stringify({ machine, results }, null, 2));
console.log(`machine: ${machine.cpu} × ${machine.cpus}, node ${machine.node}`);
if (results.length === 0) console.log('no benchmarks yet');
else console.table(results.map((r) => ({ figure: r.figure, median: r.median, spread: r.spread, unit: r.unit, goal: r.goal ?? '' })));
