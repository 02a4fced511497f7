// Verified download: stage 1 GiB (one file) and 1 GiB (256 × 4 MiB) in download mode with adler32
// verification from the storage element used in tests (XRootD 5.8.1, test/support/storage-element.ts,
// its plain-HTTP port with a WLCG bearer token), against `curl -o FILE` of the same files with the same
// concurrency (no verification). Both write into a fresh directory of the same file system.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { RucioClient, checksumOf } from 'dlaas';
import { createRucioEmulator } from 'dlaas/testing';
import { median, spread } from './stats.mjs';

const root = new URL('..', import.meta.url).pathname;
const here = new URL('.', import.meta.url).pathname;
const MiB = 1 << 20;

/** test/support/storage-element.ts is TypeScript run by vitest: bundle it (esbuild maps .js imports to .ts). */
async function loadStorageElement() {
  const out = join(root, '.tmp/bench/storage-element.mjs');
  mkdirSync(join(root, '.tmp/bench'), { recursive: true });
  await esbuild.build({ entryPoints: [join(root, 'test/support/storage-element.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: out, logLevel: 'silent' });
  return import(out);
}

function content(bytes, seed) {
  const buf = new Uint8Array(bytes);
  const u32 = new Uint32Array(buf.buffer);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < u32.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    u32[i] = x >>> 0;
  }
  return buf;
}

async function wall(cmd, args, env = {}) {
  const t = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${cmd} exited with ${code}`);
  return { seconds: (performance.now() - t) / 1000, out };
}

export default async function download({ quick = false } = {}) {
  if (process.getuid?.() !== 0) return [{ figure: 'verified download', median: null, spread: 0, unit: '', note: 'skipped: the XRootD storage element needs root' }];
  const { startStorageElement } = await loadStorageElement();
  const se = await startStorageElement({ listing: false });
  const emu = createRucioEmulator();
  const work = mkdtempSync(join(tmpdir(), 'dlaas-bench-dl-'));
  try {
    const rucioUrl = await emu.listen();
    const rootToken = emu.issueToken('root');
    emu.addScope('bench', 'root');
    emu.addRse('XRD', { lfn2pfnAlgorithm: 'identity', protocols: [{ scheme: 'http', hostname: 'localhost', port: se.port, prefix: '/rucio/' }] });
    const rucio = new RucioClient({ baseUrl: rucioUrl, token: rootToken });
    const total = quick ? 256 * MiB : 1024 * MiB;
    const sets = [
      { label: `1 file × ${total / MiB} MiB`, dataset: 'one', files: [{ name: 'big.bin', bytes: total }] },
      { label: `${total / (4 * MiB)} files × 4 MiB`, dataset: 'many', files: Array.from({ length: total / (4 * MiB) }, (_, i) => ({ name: `part_${String(i).padStart(3, '0')}.bin`, bytes: 4 * MiB })) },
    ];
    for (const set of sets) {
      const attached = [];
      for (const [i, f] of set.files.entries()) {
        const data = content(f.bytes, 0x9e3779b9 ^ (i + 1) ^ (set.dataset.length << 20));
        se.seed(`/rucio/bench/${f.name}`, data);
        attached.push({ scope: 'bench', name: f.name, bytes: f.bytes, adler32: (await checksumOf(data)).adler32 });
      }
      await rucio.dids.addDataset({ scope: 'bench', name: set.dataset });
      await rucio.dids.attach({ scope: 'bench', name: set.dataset }, attached, { rse: 'XRD' });
    }
    const storageToken = await se.mintToken({ scope: 'storage.read:/' });
    const concurrency = 4; // the SDK's default; curl gets the same
    const reps = quick ? 1 : 3;
    const figures = [];
    for (const set of sets) {
      const sdk = [];
      const curl = [];
      const bare = [];
      const nosync = [];
      for (let i = 0; i < reps; i++) {
        for (const who of i % 2 ? ['sdk', 'nosync', 'bare', 'curl'] : ['curl', 'bare', 'nosync', 'sdk']) {
          const dir = join(work, `${who}-${i}`);
          mkdirSync(dir);
          if (who === 'sdk' || who === 'nosync') {
            const { out } = await wall(process.execPath, [`${here}fixtures/stage-download.mjs`, rucioUrl, rootToken, storageToken, dir, String(concurrency), `bench:${set.dataset}`], who === 'nosync' ? { BENCH_NO_FSYNC: '1' } : {});
            const r = JSON.parse(out);
            if (r.files !== set.files.length || !r.verified) throw new Error(`SDK staged ${r.files} files, verified: ${r.verified}`);
            (who === 'sdk' ? sdk : nosync).push(r.seconds);
          } else if (who === 'bare') {
            bare.push(JSON.parse((await wall(process.execPath, [`${here}fixtures/fetch-to-file.mjs`, storageToken, dir, String(concurrency), ...set.files.map((f) => `${se.httpUrl}rucio/bench/${f.name}`)])).out).seconds);
          } else {
            const args = ['-s', '--no-progress-meter', '-f', '--parallel', '--parallel-max', String(concurrency), '-H', `Authorization: Bearer ${storageToken}`];
            for (const f of set.files) args.push('-o', join(dir, f.name), `${se.httpUrl}rucio/bench/${f.name}`);
            curl.push((await wall('curl', args)).seconds);
          }
          rmSync(dir, { recursive: true, force: true });
        }
      }
      const mbs = (xs) => Math.round(total / 1e6 / median(xs));
      const ratios = sdk.map((s, i) => s / curl[i]);
      figures.push(
        { figure: `verified download (SDK, adler32), ${set.label}`, median: mbs(sdk), spread: spread(sdk), unit: 'MB/s', note: `wall ${median(sdk).toFixed(2)} s (stage() call; node start excluded)` },
        { figure: `curl -o, ${set.label}`, median: mbs(curl), spread: spread(curl), unit: 'MB/s', note: `wall ${median(curl).toFixed(2)} s` },
        { figure: `bare Node fetch → file (no verification, no fsync), ${set.label}`, median: mbs(bare), spread: spread(bare), unit: 'MB/s', note: `wall ${median(bare).toFixed(2)} s` },
        { figure: `SDK with the sink's fsync disabled (measurement only), ${set.label}`, median: mbs(nosync), spread: spread(nosync), unit: 'MB/s', note: `wall ${median(nosync).toFixed(2)} s` },
        { figure: `download wall SDK / curl, ${set.label}`, median: Number(median(ratios).toFixed(3)), spread: spread(ratios), unit: '×', goal: '≤ 1.35' },
        { figure: `download wall bare Node fetch / curl, ${set.label}`, median: Number(median(bare.map((b, i) => b / curl[i])).toFixed(3)), spread: spread(bare.map((b, i) => b / curl[i])), unit: '×', note: 'the limit for a JS client' },
      );
    }
    figures.push({ figure: 'storage element used', median: null, spread: 0, unit: '', note: `XRootD ${se.version} (XrdHttp, plain-HTTP port, WLCG token), concurrency ${concurrency}, files in ${tmpdir()}` });
    return figures;
  } finally {
    await emu.close();
    await se.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
