// Replica listing throughput and memory: rucio.replicas.list vs a bare fetch+split+JSON.parse loop,
// over the same bytes from the emulator's loopback HTTP server (separate processes, so RSS is the client's).
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { median, spread } from './stats.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;

async function startServer(count) {
  const child = spawn(process.execPath, [`${here}fixtures/rucio-server.mjs`, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  return { child, ...JSON.parse(String(line)) };
}

async function measure(url, token, mode) {
  const { stdout } = await run(process.execPath, [`${here}fixtures/list-replicas.mjs`, url, token, mode], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

export default async function replicas({ quick = false } = {}) {
  const sizes = quick ? [10_000, 100_000] : [100_000, 1_000_000];
  const reps = quick ? 1 : 3;
  const figures = [];
  const rss = {};
  for (const n of sizes) {
    const server = await startServer(n);
    try {
      const runs = { sdk: [], bare: [] };
      for (let i = 0; i < reps; i++) {
        for (const mode of ['bare', 'sdk']) {
          const m = await measure(server.url, server.token, mode);
          if (m.records !== n) throw new Error(`${mode} listed ${m.records} of ${n} records`);
          runs[mode].push(m);
        }
      }
      const rate = (ms) => ms.map((m) => m.records / m.seconds);
      const sdkRate = rate(runs.sdk);
      const bareRate = rate(runs.bare);
      const ratios = runs.sdk.map((m, i) => m.records / m.seconds / (runs.bare[i].records / runs.bare[i].seconds));
      rss[n] = median(runs.sdk.map((m) => m.maxRssMiB));
      figures.push(
        { figure: `replicas.list ${n.toLocaleString('en')} records`, median: Math.round(median(sdkRate)), spread: spread(sdkRate), unit: 'records/s' },
        { figure: `bare fetch+JSON.parse ${n.toLocaleString('en')} records`, median: Math.round(median(bareRate)), spread: spread(bareRate), unit: 'records/s' },
        { figure: `replicas.list / bare at ${n.toLocaleString('en')}`, median: Number(median(ratios).toFixed(3)), spread: spread(ratios), unit: 'ratio', goal: '≥ 0.8' },
        { figure: `replicas.list peak RSS at ${n.toLocaleString('en')}`, median: Number(rss[n].toFixed(1)), spread: spread(runs.sdk.map((m) => m.maxRssMiB)), unit: 'MiB', goal: n >= 1_000_000 ? '≤ 96' : '' },
        { figure: `bare loop peak RSS at ${n.toLocaleString('en')}`, median: Number(median(runs.bare.map((m) => m.maxRssMiB)).toFixed(1)), spread: spread(runs.bare.map((m) => m.maxRssMiB)), unit: 'MiB' },
      );
    } finally {
      server.child.kill('SIGTERM');
    }
  }
  const [small, big] = sizes;
  figures.push({ figure: `RSS growth ${small.toLocaleString('en')} → ${big.toLocaleString('en')}`, median: Number(((rss[big] / rss[small] - 1) * 100).toFixed(1)), spread: 0, unit: '%', goal: '≤ 10' });
  return figures;
}
