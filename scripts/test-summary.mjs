// Prints the test run's slowest files and tests, then its totals as one plain line
// ("N passed, N failed, N skipped") for CI logs.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const r = JSON.parse(readFileSync(new URL('../.vitest-results.json', import.meta.url), 'utf8'));
const name = (f) => relative(root, f.name);
const s = (ms) => `${(ms / 1000).toFixed(1).padStart(6)} s`;
const files = r.testResults.map((f) => ({ name: name(f), ms: f.endTime - f.startTime })).sort((a, b) => b.ms - a.ms);
const tests = r.testResults.flatMap((f) => f.assertionResults.map((t) => ({ name: `${name(f)} > ${t.title}`, ms: t.duration ?? 0 }))).sort((a, b) => b.ms - a.ms);
const last = Math.max(...r.testResults.map((f) => f.endTime));
console.log(`\nslowest files (of ${files.length}; vitest ran ${s(last - r.startTime).trim()} from start to the last file's end):`);
for (const f of files.slice(0, 10)) console.log(`${s(f.ms)}  ${f.name}`);
console.log('slowest tests:');
for (const t of tests.slice(0, 20)) console.log(`${s(t.ms)}  ${t.name.length > 150 ? `${t.name.slice(0, 149)}…` : t.name}`);
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
if (r.numFailedTests > 0 || r.numTotalTests === 0) process.exit(1);
