// One benchmark file in a process of its own, for run.mjs: `node run-one.mjs FILE 0|1 OUT` runs
// FILE's default export ({ quick }) and writes its figures to OUT as JSON.
import { writeFileSync } from 'node:fs';

const [file, quick, out] = process.argv.slice(2);
const mod = await import(new URL(file, import.meta.url).href);
const figures = await mod.default({ quick: quick === '1' });
writeFileSync(out, JSON.stringify(figures));
// A server or timer a benchmark left behind must not keep the run waiting.
process.exit(0);
