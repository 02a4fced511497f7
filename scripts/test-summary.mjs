// Prints the test run's totals as one plain line ("N passed, N failed, N skipped") for CI logs.
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(new URL('../.vitest-results.json', import.meta.url), 'utf8'));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
if (r.numFailedTests > 0 || r.numTotalTests === 0) process.exit(1);
