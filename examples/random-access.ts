/**
 * Random access without FUSE: read only the bytes you need of large files in the Data Lake.
 *
 *   npx node examples/random-access.ts FITS_DID PARQUET_DID [COLUMN]
 *
 * - a FITS image: the header, then a 64×64 cutout at the image centre (one `read` per row; the
 *   block cache coalesces them into a few `Range` requests);
 * - a Parquet table: one column, with hyparquet (a real Parquet reader from npm) reading through
 *   `file.asyncBuffer()`: the footer, then that column's chunks, nothing else.
 *
 * Each prints how many bytes were transferred against the file's size. Bytes read by range are not
 * verified against the catalogue (it checksums whole files only); `file.verify()` would read it all.
 */
import { DlaasError, type RemoteFile } from 'dlaas';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { connect, type ConnectOptions } from './lib/connect.ts';
import { formatBytes, isMain, type Out } from './lib/console.ts';

/** The primary header of a FITS file: its cards (key → value, strings unquoted) and where the data starts. */
export async function fitsHeader(file: RemoteFile): Promise<{ cards: Record<string, string>; dataStart: number }> {
  const cards: Record<string, string> = {};
  for (let at = 0; ; at += 2880) {
    if (at >= file.size) throw new DlaasError(`${file.name}: no END card in the FITS header`);
    const block = new TextDecoder('latin1').decode(await file.read(at, 2880));
    if (at === 0 && !block.startsWith('SIMPLE  =')) throw new DlaasError(`${file.name} is not a FITS file`);
    for (let i = 0; i < block.length; i += 80) {
      const c = block.slice(i, i + 80);
      const key = c.slice(0, 8).trim();
      if (key === 'END') return { cards, dataStart: at + 2880 };
      if (c[8] === '=') cards[key] = c.slice(10).split('/')[0]!.trim().replace(/^'(.*)'$/, '$1').trim();
    }
  }
}

/** A `size`×`size` cutout of a 2-D FITS image (BITPIX -32 or -64) whose lower-left pixel is (x0, y0). */
export async function fitsCutout(file: RemoteFile, x0: number, y0: number, size: number): Promise<{ header: Record<string, string>; pixels: Float64Array }> {
  const { cards, dataStart } = await fitsHeader(file);
  const bitpix = Number(cards.BITPIX);
  const width = Number(cards.NAXIS1);
  if (cards.NAXIS !== '2' || (bitpix !== -32 && bitpix !== -64)) throw new DlaasError(`${file.name}: a 2-D float image is expected (NAXIS ${cards.NAXIS}, BITPIX ${cards.BITPIX})`);
  const bpp = Math.abs(bitpix) / 8;
  const pixels = new Float64Array(size * size);
  // One read per row: reads in flight share blocks, adjacent blocks go in one request.
  await Promise.all(
    Array.from({ length: size }, async (_, row) => {
      const bytes = await file.read(dataStart + ((y0 + row) * width + x0) * bpp, size * bpp);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < size; i++) pixels[row * size + i] = bpp === 4 ? view.getFloat32(i * 4, false) : view.getFloat64(i * 8, false);
    }),
  );
  return { header: cards, pixels };
}

/** One column of a Parquet file, through hyparquet. */
export async function parquetColumn(file: RemoteFile, column: string): Promise<{ values: unknown[]; columns: number; rows: number }> {
  const buffer = file.asyncBuffer();
  // The footer is small: ask for its last 64 KiB first (hyparquet fetches more if the metadata is larger).
  const metadata = await parquetMetadataAsync(buffer, { initialFetchSize: 64 * 1024 });
  const rows = (await parquetReadObjects({ file: buffer, metadata, columns: [column] })) as Record<string, unknown>[];
  return { values: rows.map((r) => r[column]), columns: metadata.schema.length - 1, rows: Number(metadata.num_rows) };
}

const cost = (file: RemoteFile) => `${formatBytes(file.stats.bytesTransferred)} of ${formatBytes(file.size)} transferred (${((100 * file.stats.bytesTransferred) / file.size).toFixed(2)} %, ${file.stats.requests} requests)`;

/** Options of {@link randomAccess}. */
export interface RandomAccessOptions extends ConnectOptions {
  fits: string;
  parquet: string;
  column?: string;
}

/** The example: returns what it read. */
export async function randomAccess(o: RandomAccessOptions): Promise<{ fits: { bytes: number; size: number; mean: number }; parquet: { bytes: number; size: number; sum: number; rows: number } }> {
  const out: Out = o.out ?? ((line) => console.log(line));
  const { lake } = await connect(o);

  const image = await lake.files.open(o.fits, { blockSize: 64 * 1024 });
  const { cards: header } = await fitsHeader(image);
  const w = Number(header.NAXIS1);
  const h = Number(header.NAXIS2);
  out(`FITS ${o.fits}: ${w}×${h} BITPIX ${header.BITPIX} OBJECT ${header.OBJECT ?? '-'}`);
  const x0 = Math.max(0, Math.floor(w / 2) - 32);
  const y0 = Math.max(0, Math.floor(h / 2) - 32);
  const { pixels } = await fitsCutout(image, x0, y0, 64);
  const mean = pixels.reduce((a, b) => a + b, 0) / pixels.length;
  out(`  cutout 64×64 at (${x0}, ${y0}): mean ${mean.toFixed(4)}, first pixel ${pixels[0]}`);
  out(`  ${cost(image)}`);

  // 64 KiB blocks: a column chunk costs itself plus at most one block of rounding at each end.
  const table = await lake.files.open(o.parquet, { blockSize: 64 * 1024 });
  const column = o.column ?? 'c0';
  const { values, columns, rows } = await parquetColumn(table, column);
  const sum = values.reduce<number>((a, v) => a + Number(v), 0);
  out(`Parquet ${o.parquet}: ${rows} rows × ${columns} columns; column ${column}: ${values.length} values, sum ${sum}`);
  out(`  ${cost(table)}`);
  return { fits: { bytes: image.stats.bytesTransferred, size: image.size, mean }, parquet: { bytes: table.stats.bytesTransferred, size: table.size, sum, rows } };
}

if (isMain(import.meta)) {
  const [fits, parquet, column] = process.argv.slice(2);
  if (!fits || !parquet) {
    console.error('usage: random-access.ts FITS_DID PARQUET_DID [COLUMN]');
    process.exit(2);
  }
  randomAccess({ fits, parquet, ...(column ? { column } : {}) }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`✗ ${error instanceof DlaasError ? `${error.code}: ${error.message}` : String(error)}`);
      process.exit(1);
    },
  );
}
