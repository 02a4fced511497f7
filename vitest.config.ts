import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Prints the reliability/fuzz summary table (test/reliability, test/fuzz) when the run ends.
    globalSetup: ['test/support/reliability-summary.ts'],
    // Generous on purpose: a deadline that only a busy machine misses is not a failure of the code.
    // What a test proves comes from events (a stalled server that never answers, counted requests),
    // never from how fast the machine is; these only stop a hang.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // vitest's default is (cores − 1), one worker on a 2-core machine. Most files wait on child
    // processes and servers (the CLI, Deno, Chromium, XRootD, nbconvert), so three run side by side.
    maxWorkers: 3,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
