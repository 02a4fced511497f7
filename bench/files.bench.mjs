// Random access (`lake.files.open`, issue #18): what reading part of a large file costs, in bytes
// transferred against the file's size, and what streaming a whole file costs against a verified
// download of it. Files are served by the plain node:http storage server of the tests
// (test/support/plain-storage.ts: Range, loopback) behind the Rucio emulator; the readers are the
// example's (examples/random-access.ts): hyparquet for Parquet, a FITS header parser and one read
// per cutout row.
//   - one column of a 1 GiB, 20-column Parquet file (DOUBLE, uncompressed, row groups of 65,536 rows)
//   - the header + a 64×64 cutout of a 1 GiB FITS image (16,384 × 16,384 float32)
//   - stream() of a whole 1 GiB file (verified at its end) / `staging.stage` download mode of it
//     (4 Range streams, adler32 in worker threads, written with fsync to a fresh directory)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDataLake } from 'dlaas';
import { fileSink, nodeStorageHttp, workerHashing } from 'dlaas/node';
import { createRucioEmulator } from 'dlaas/testing';
import { median, spread } from './stats.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1 << 20;

/** test/support/plain-storage.ts is TypeScript run by vitest: bundle it (esbuild maps .js imports to .ts). */
async function loadPlainStorage() {
  const esbuild = await import('esbuild');
  const out = join(root, '.tmp/bench/plain-storage.mjs');
  mkdirSync(join(root, '.tmp/bench'), { recursive: true });
  await esbuild.build({ entryPoints: [join(root, 'test/support/plain-storage.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: out, logLevel: 'silent' });
  return import(out);
}

const round = (x, d = 3) => Number(x.toFixed(d));

export default async function files({ quick = false } = {}) {
  const size = quick ? 64 * MiB : 1024 * MiB;
  const { startPlainStorage } = await loadPlainStorage();
  const { makeFits, makeParquet } = await import('../test/support/science-files.ts');
  const { fitsCutout, parquetColumn } = await import('../examples/random-access.ts');
  const plain = await startPlainStorage();
  const emu = createRucioEmulator();
  const work = mkdtempSync(join(tmpdir(), 'dlaas-bench-files-'));
  const hashing = workerHashing();
  try {
    const rucioUrl = await emu.listen();
    emu.addAccount('bench', { admin: true });
    emu.addScope('bench', 'bench');
    emu.addRse('PLAIN', { lfn2pfnAlgorithm: 'identity', protocols: [{ scheme: 'http', hostname: '127.0.0.1', port: plain.port, prefix: '/rucio/' }] });
    // 20 DOUBLE columns: size / 160 rows. A FITS image of side √(size / 4).
    const parquet = makeParquet(20, Math.floor(size / 160));
    const side = Math.floor(Math.sqrt(size / 4));
    const fits = makeFits(side, side, 'BENCH');
    for (const [name, bytes] of [['table.parquet', parquet], ['image.fits', fits]]) plain.files.set(`/rucio/bench/${name}`, bytes);
    await emu.seedDataset({ scope: 'bench', name: 'files', rses: ['PLAIN'], files: [{ name: 'table.parquet', content: parquet }, { name: 'image.fits', content: fits }] });
    const lake = createDataLake({ rucio: { baseUrl: rucioUrl, token: emu.issueToken('bench') }, auth: { storageToken: 'bench-token' }, staging: { storageHttp: nodeStorageHttp(), hashing } });

    // One column of the Parquet file, three different columns.
    const pq = [];
    for (const column of ['c3', 'c11', 'c17']) {
      const file = await lake.files.open('bench:table.parquet', { blockSize: 64 * 1024 });
      const { values } = await parquetColumn(file, column);
      if (values.length !== Math.floor(size / 160)) throw new Error(`parquet: ${values.length} values`);
      pq.push((100 * file.stats.bytesTransferred) / file.size);
      file.close();
    }
    // Header + 64×64 cutout of the FITS image, at three places.
    const ft = [];
    for (const [fx, fy] of [
      [0.5, 0.5],
      [0.1, 0.8],
      [0.9, 0.2],
    ]) {
      const file = await lake.files.open('bench:image.fits', { blockSize: 64 * 1024 });
      await fitsCutout(file, Math.floor(fx * (side - 64)), Math.floor(fy * (side - 64)), 64);
      ft.push((100 * file.stats.bytesTransferred) / file.size);
      file.close();
    }
    // Whole-file stream() against a verified download of the same file, pairwise, alternating.
    const ratios = [];
    const streamWalls = [];
    const downloadWalls = [];
    const reps = quick ? 2 : 3;
    for (let i = 0; i < reps; i++) {
      const runStream = async () => {
        const t = performance.now();
        const file = await lake.files.open('bench:image.fits');
        let n = 0;
        for await (const chunk of file.stream()) n += chunk.byteLength;
        if (n !== fits.byteLength || !file.verified) throw new Error('stream: not the whole file, or not verified');
        return performance.now() - t;
      };
      const runDownload = async () => {
        const dir = join(work, `dl-${i}`);
        const t = performance.now();
        const r = await lake.staging.stage(['bench:image.fits'], { mode: 'download', sink: fileSink(dir) });
        const wall = performance.now() - t;
        if (r.status !== 'AVAILABLE') throw new Error(`download: ${r.status}`);
        rmSync(dir, { recursive: true, force: true });
        return wall;
      };
      let s;
      let d;
      if (i % 2 === 0) {
        s = await runStream();
        d = await runDownload();
      } else {
        d = await runDownload();
        s = await runStream();
      }
      streamWalls.push(s);
      downloadWalls.push(d);
      ratios.push(s / d);
    }
    const label = `${size / MiB} MiB`;
    return [
      { figure: `Parquet: one column of a ${label} 20-column file, bytes transferred / file size`, median: round(median(pq), 2), spread: spread(pq), unit: '%', goal: '≤ 6', note: `columns c3, c11, c17 with hyparquet; ${round(median(pq) * size / 100 / MiB, 1)} MiB of ${label} each` },
      { figure: `FITS: header + 64×64 cutout of a ${label} image, bytes transferred / file size`, median: round(median(ft), 3), spread: spread(ft), unit: '%', goal: '≤ 1', note: `${side}×${side} float32, 64 KiB blocks, three cutout positions` },
      { figure: `stream() of a whole ${label} file, wall / verified download`, median: round(median(ratios), 3), spread: spread(ratios), unit: '×', goal: '≤ 1.2', note: `stream ${round(median(streamWalls) / 1000, 2)} s (one GET, adler32 on the main thread) vs stage download ${round(median(downloadWalls) / 1000, 2)} s (4 Range streams, worker hashing, fsync)` },
    ];
  } finally {
    await hashing.close?.();
    await plain.close();
    await emu.close?.();
    rmSync(work, { recursive: true, force: true });
  }
}
