/**
 * Science files for random-access tests, examples and benchmarks, made here with npm packages: a
 * FITS image (primary HDU, BITPIX -32, big-endian float32, a smooth pattern with a known value at
 * every pixel) and a Parquet table of DOUBLE columns written by hyparquet-writer. Erasable-syntax
 * TypeScript only, so Node runs it directly (the benchmarks import it too).
 */
import { parquetWriteBuffer } from 'hyparquet-writer';

/** The value of pixel (x, y) in {@link makeFits}'s image (exact in float32). */
export const fitsPixel = (x: number, y: number): number => ((x * 7 + y * 13) % 1000) + (x % 3) * 0.25;

/** An 80-character FITS card. */
function card(key: string, value: string | number | boolean, comment = ''): string {
  const v = typeof value === 'boolean' ? (value ? 'T' : 'F').padStart(20) : typeof value === 'string' ? `'${value.padEnd(8)}'`.padEnd(20) : String(value).padStart(20);
  return `${key.padEnd(8)}= ${v}${comment ? ` / ${comment}` : ''}`.padEnd(80).slice(0, 80);
}

/** A FITS image of `width` × `height` float32 pixels (header, then rows, padded to 2880-byte records). */
export function makeFits(width: number, height: number, object = 'M31'): Uint8Array {
  const cards = [card('SIMPLE', true), card('BITPIX', -32), card('NAXIS', 2), card('NAXIS1', width), card('NAXIS2', height), card('OBJECT', object), card('BUNIT', 'JY/BEAM'), 'END'.padEnd(80)];
  const header = cards.join('').padEnd(Math.ceil((cards.length * 80) / 2880) * 2880);
  const dataBytes = width * height * 4;
  const total = header.length + Math.ceil(dataBytes / 2880) * 2880;
  const out = new Uint8Array(total);
  for (let i = 0; i < header.length; i++) out[i] = header.charCodeAt(i);
  const view = new DataView(out.buffer, header.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) view.setFloat32((y * width + x) * 4, fitsPixel(x, y), false);
  return out;
}

/** The value of column `c`, row `r` of {@link makeParquet}'s table. */
export const parquetCell = (c: number, r: number): number => c * 1_000_000 + r * 0.5;

/** A Parquet table of `columns` DOUBLE columns (`c0`, `c1`, …) and `rows` rows, uncompressed, row groups of `rowGroupSize` rows. */
export function makeParquet(columns: number, rows: number, rowGroupSize = 1 << 16): Uint8Array {
  const columnData = Array.from({ length: columns }, (_, c) => {
    const data = new Float64Array(rows);
    for (let r = 0; r < rows; r++) data[r] = parquetCell(c, r);
    return { name: `c${c}`, data, type: 'DOUBLE' as const, nullable: false, statistics: false };
  });
  return new Uint8Array(parquetWriteBuffer({ columnData, codec: 'UNCOMPRESSED', rowGroupSize, statistics: false }));
}
