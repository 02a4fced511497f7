/**
 * examples/random-access.ts run as a user runs it (`node examples/random-access.ts`, importing the
 * built package) against the embedded local Data Lake: a FITS header and a 64×64 cutout of a large
 * FITS image, and one column of a 20-column Parquet file read by hyparquet, each through
 * `lake.files.open` — checked against the values the files were made with, and for the bytes they
 * transferred against the files' sizes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { fitsPixel, makeFits, makeParquet, parquetCell } from '../support/science-files.ts';
import { requireBuild, root, runNode } from './helpers.ts';

let lake: LocalLake;
let work: string;
const W = 2048;
const ROWS = 200_000;
let fitsSize = 0;
let parquetSize = 0;

beforeAll(async () => {
  requireBuild();
  lake = await startLocalLake({ conveyorMs: 100 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-random-access-'));
  const fits = makeFits(W, W, 'M31');
  const parquet = makeParquet(20, ROWS);
  fitsSize = fits.byteLength;
  parquetSize = parquet.byteLength;
  await lake.emulator.seedDataset({ scope: 'user.jdoe', name: 'random-access', rses: ['SARA-DCACHE', 'PIC-DCACHE'], files: [{ name: 'image.fits', content: fits }, { name: 'table.parquet', content: parquet }] });
});

afterAll(async () => {
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('random-access.ts', () => {
  it('reads a FITS header + 64×64 cutout and one Parquet column, transferring a small part of each file', async () => {
    const env = { ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }), HOME: work };
    const r = await runNode([join(root, 'examples', 'random-access.ts'), 'user.jdoe:image.fits', 'user.jdoe:table.parquet', 'c7'], { env, cwd: work });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`FITS user.jdoe:image.fits: ${W}×${W} BITPIX -32 OBJECT M31`);
    // The cutout's values are the image's: mean over x, y in [992, 1056).
    let mean = 0;
    for (let y = W / 2 - 32; y < W / 2 + 32; y++) for (let x = W / 2 - 32; x < W / 2 + 32; x++) mean += fitsPixel(x, y);
    mean /= 64 * 64;
    expect(r.stdout).toContain(`cutout 64×64 at (${W / 2 - 32}, ${W / 2 - 32}): mean ${mean.toFixed(4)}, first pixel ${fitsPixel(W / 2 - 32, W / 2 - 32)}`);
    let sum = 0;
    for (let i = 0; i < ROWS; i++) sum += parquetCell(7, i);
    expect(r.stdout).toContain(`Parquet user.jdoe:table.parquet: ${ROWS} rows × 20 columns; column c7: ${ROWS} values, sum ${sum}`);
    const costs = [...r.stdout.matchAll(/\(([\d.]+) %, (\d+) requests\)/g)].map((m) => Number(m[1]));
    expect(costs).toHaveLength(2);
    // FITS: 64 rows of 8 KiB stride = 512 KiB of rows + the header block, of a 16 MiB image.
    expect(costs[0]).toBeLessThan(5);
    // Parquet: one column of 20 (5 %) plus the footer and block rounding.
    expect(costs[1]).toBeLessThan(12);
    expect(fitsSize).toBeGreaterThan(16 * 1024 * 1024);
    expect(parquetSize).toBeGreaterThan(30_000_000);
  }, 120_000);
});
