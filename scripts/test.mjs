// `npm test`: type-check, lint and build side by side, then the vitest suite, then the packaging,
// size and docs checks side by side, then the summary. Each step's output is printed whole when it
// ends (steps that run together never interleave their lines); the first failing group stops the run
// with a non-zero exit after its other steps have finished.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const groups = [
  ['typecheck', 'lint', 'build'],
  ['test:unit'],
  ['check:package', 'check:size', 'docs'],
];

/** Run `npm run <script>`; a lone step streams its output, steps run together buffer theirs. */
function run(script, stream) {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(npm, ['run', '--silent', script], { stdio: stream ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout?.on('data', (b) => out.push(b));
    child.stderr?.on('data', (b) => out.push(b));
    child.on('close', (code, signal) => resolve({ script, code: code ?? 1, signal, out: Buffer.concat(out).toString(), seconds: (performance.now() - started) / 1000 }));
  });
}

const t0 = performance.now();
for (const group of groups) {
  const results = await Promise.all(group.map((script) => run(script, group.length === 1)));
  for (const r of results) {
    if (r.out) process.stdout.write(`\n> ${r.script}\n${r.out}`);
    console.log(`> ${r.script}: ${r.code === 0 ? 'ok' : `FAILED (${r.signal ?? `exit ${r.code}`})`} in ${r.seconds.toFixed(1)} s`);
  }
  if (results.some((r) => r.code !== 0)) process.exit(1);
}
const summary = await run('test:summary', true);
console.log(`npm test: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
process.exit(summary.code);
