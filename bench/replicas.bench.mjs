// Replica listing throughput and memory: rucio.replicas.list vs a bare fetch + line split + JSON.parse
// loop over the same bytes, each in a fresh process (so peak RSS is the client's alone), interleaved.
// The server streams pre-rendered NDJSON (fixtures/ndjson-server.mjs) so it is never the bottleneck:
// `curl` reading the same stream is reported as the server's own speed.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { createRucioEmulator } from 'dlaas/testing';
import { renderReplicaLines } from './fixtures/ndjson-server.mjs';
import { median, spread } from './stats.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const fmt = (n) => n.toLocaleString('en');

/** The bench server's lines must look like the emulator's (and so a real Rucio's): same keys, order, separators. */
async function checkFormat() {
  const emu = createRucioEmulator();
  emu.addScope('bench', 'root');
  // The fixture's RSE ids: the server orders a file's RSEs by id.
  const ids = { SITE_A: '6523206b37e742198e094dc8660af6a6', SITE_B: '1bca5030774f49a7a1e4750b1dbf6684' };
  for (const rse of ['SITE_A', 'SITE_B']) emu.addRse(rse, { id: ids[rse], protocols: [{ scheme: 'davs', hostname: `${rse.toLowerCase()}.example.org`, port: 443, prefix: `/rucio/${rse.toLowerCase()}/` }] });
  emu.seedSyntheticDataset({ scope: 'bench', name: 'ds', count: 3, rses: ['SITE_A', 'SITE_B'] });
  const res = await emu.fetch('/replicas/list', { method: 'POST', body: JSON.stringify({ dids: [{ scope: 'bench', name: 'ds' }] }), headers: { 'X-Rucio-Auth-Token': emu.issueToken('root') } });
  const norm = (s) => s.replace(/"(md5|adler32)": "[0-9a-f]+"/g, '"$1": "…"');
  const theirs = norm(await res.text());
  const ours = norm(renderReplicaLines(0, 3, { count: 3 }));
  if (theirs !== ours) throw new Error(`bench NDJSON differs from the emulator's:\n${ours}\nvs\n${theirs}`);
}

async function startServer(count) {
  const child = spawn(process.execPath, [`${here}fixtures/ndjson-server.mjs`, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  return { child, ...JSON.parse(String(line)) };
}

async function measure(server, mode) {
  const { stdout } = await run(process.execPath, [`${here}fixtures/list-replicas.mjs`, `${server.url}/`, server.token, mode], { maxBuffer: 1 << 20 });
  const m = JSON.parse(stdout);
  if (m.records !== server.records) throw new Error(`${mode} listed ${m.records} of ${server.records} records`);
  return m;
}

async function curlRate(server) {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', '-X', 'POST', '-H', `X-Rucio-Auth-Token: ${server.token}`, '-d', '{}', `${server.url}/replicas/list`]);
  const [bytes, seconds] = stdout.trim().split(' ').map(Number);
  return bytes / seconds;
}

export default async function replicas({ quick = false } = {}) {
  await checkFormat();
  const sizes = quick ? [10_000, 100_000] : [100_000, 1_000_000];
  const figures = [];
  const rss = {};
  for (const n of sizes) {
    const reps = quick ? 2 : n >= 1_000_000 ? 3 : 5;
    const server = await startServer(n);
    try {
      const curl = [];
      for (let i = 0; i < (quick ? 1 : 2); i++) curl.push(await curlRate(server));
      const runs = { sdk: [], bare: [] };
      for (let i = 0; i < reps; i++) {
        // Alternate the order, so that neither side always runs first.
        for (const mode of i % 2 ? ['sdk', 'bare'] : ['bare', 'sdk']) runs[mode].push(await measure(server, mode));
      }
      const rate = (ms) => ms.map((m) => m.records / m.seconds);
      const sdkRate = rate(runs.sdk);
      const bareRate = rate(runs.bare);
      const ratios = sdkRate.map((r, i) => r / bareRate[i]);
      // Once per size: a process that only counts the stream's lines through fetch (no parsing).
      const count = await measure(server, 'count');
      const sdkRss = runs.sdk.map((m) => m.maxRssMiB);
      const bareRss = runs.bare.map((m) => m.maxRssMiB);
      rss[n] = median(sdkRss);
      const bytesPerRecord = server.bytes / n;
      figures.push(
        { figure: `replicas.list, ${fmt(n)} records`, median: Math.round(median(sdkRate)), spread: spread(sdkRate), unit: 'records/s' },
        { figure: `bare fetch+split+JSON.parse, ${fmt(n)}`, median: Math.round(median(bareRate)), spread: spread(bareRate), unit: 'records/s' },
        { figure: `replicas.list / bare, ${fmt(n)}`, median: Number(median(ratios).toFixed(3)), spread: spread(ratios), unit: '×', goal: '≥ 0.8' },
        { figure: `replicas.list peak RSS, ${fmt(n)}`, median: Number(rss[n].toFixed(1)), spread: spread(sdkRss), unit: 'MiB', ...(n >= 1_000_000 ? { goal: '≤ 96' } : {}) },
        { figure: `bare loop peak RSS, ${fmt(n)}`, median: Number(median(bareRss).toFixed(1)), spread: spread(bareRss), unit: 'MiB' },
        { figure: `fetch reading the stream, counting lines only: peak RSS, ${fmt(n)}`, median: Number(count.maxRssMiB.toFixed(1)), spread: 0, unit: 'MiB', note: 'one run: what the runtime’s fetch costs before any parsing (spent chunks wait for a GC that little allocation does not bring)' },
        { figure: `server check: curl of the stream, ${fmt(n)}`, median: Math.round(median(curl) / bytesPerRecord), spread: spread(curl), unit: 'records/s', note: `${(median(curl) / 1e6).toFixed(0)} MB/s, ${bytesPerRecord.toFixed(0)} B/record` },
      );
    } finally {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  }
  const [small, big] = sizes;
  figures.push({ figure: `replicas.list RSS growth ${fmt(small)} → ${fmt(big)}`, median: Number(((rss[big] / rss[small] - 1) * 100).toFixed(1)), spread: 0, unit: '%', goal: '≤ 10' });
  return figures;
}
