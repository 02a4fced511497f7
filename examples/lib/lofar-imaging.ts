/**
 * The science part of the LOFAR example: read calibrated visibilities, make a dirty image with a
 * direct Fourier transform (multi-frequency synthesis over the subbands), and write it as a FITS
 * image (plus a PNG preview). Plain TypeScript: runs in Node, Deno and Bun.
 *
 * The visibility files are a small, documented format (`dlaas-vis/1`): one line of JSON header,
 * then `count` records of four little-endian float32 values: u and v in metres, and the real and
 * imaginary parts of the visibility in Jy.
 *
 * `simulateObservation()` makes such files (the embedded local Data Lake seeds them); a real
 * pipeline would read Measurement Sets instead.
 * @module
 */
import { deflateSync } from 'node:zlib';

const C = 299_792_458;
const DEG = Math.PI / 180;

/** Header of a `dlaas-vis/1` file. */
export interface VisibilityHeader {
  format: 'dlaas-vis/1';
  telescope: string;
  observation: string;
  target: string;
  /** Phase centre, degrees (J2000). */
  ra: number;
  dec: number;
  subband: number;
  /** Centre frequency of the subband, Hz. */
  frequency: number;
  dateObs: string;
  count: number;
}

/** One subband's visibilities. */
export interface Visibilities {
  header: VisibilityHeader;
  /** u, v (metres), re, im (Jy), interleaved. */
  data: Float32Array;
}

/** Encode visibilities as a `dlaas-vis/1` file. */
export function encodeVisibilities(header: Omit<VisibilityHeader, 'format' | 'count'>, records: Float32Array): Uint8Array {
  if (records.length % 4 !== 0) throw new Error('records must hold u, v, re, im quadruples');
  const head = new TextEncoder().encode(`${JSON.stringify({ format: 'dlaas-vis/1', ...header, count: records.length / 4 })}\n`);
  const out = new Uint8Array(head.length + records.length * 4);
  out.set(head, 0);
  const view = new DataView(out.buffer, head.length);
  records.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return out;
}

/** Decode a `dlaas-vis/1` file (throws on anything else). */
export function decodeVisibilities(bytes: Uint8Array): Visibilities {
  const nl = bytes.indexOf(10);
  if (nl < 0 || nl > 4096) throw new Error('not a dlaas-vis/1 file: no header line');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl))) as VisibilityHeader;
  if (header.format !== 'dlaas-vis/1') throw new Error(`not a dlaas-vis/1 file: format ${JSON.stringify(header.format)}`);
  const body = bytes.subarray(nl + 1);
  if (body.length !== header.count * 16) throw new Error(`truncated visibility file: ${body.length} bytes for ${header.count} records`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const data = new Float32Array(header.count * 4);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  return { header, data };
}

/** A point source of the simulated sky: offsets from the phase centre in degrees, flux in Jy. */
export interface SkySource {
  name: string;
  dl: number;
  dm: number;
  flux: number;
}

/** The 3C196 field at 135 MHz, as in the LOFAR full-dress rehearsal image. */
export const FIELD_3C196 = {
  target: '3C196',
  ra: 123.4,
  dec: 48.2175,
  sources: [
    { name: '3C196', dl: 0, dm: 0, flux: 80 },
    { name: 'NVSS J081000+475624', dl: 0.9, dm: -0.35, flux: 6 },
    { name: 'NVSS J081814+491306', dl: -0.7, dm: 0.95, flux: 3.5 },
  ] as SkySource[],
};

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Simulate the subband files of an observation of `field` (what an LTA staging would deliver). */
export function simulateObservation(options: { observation: string; subbands: number; perSubband: number; seed?: number; field?: typeof FIELD_3C196 }): { name: string; content: Uint8Array }[] {
  const field = options.field ?? FIELD_3C196;
  const random = rng(options.seed ?? 196);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const files: { name: string; content: Uint8Array }[] = [];
  for (let sb = 0; sb < options.subbands; sb++) {
    const frequency = 134.8e6 + sb * 195_312.5; // HBA subbands are 195.3125 kHz wide
    const lambda = C / frequency;
    const records = new Float32Array(options.perSubband * 4);
    for (let k = 0; k < options.perSubband; k++) {
      // Baselines up to ~2.4 km, denser towards the core, as a LOFAR Dutch array.
      const r = 2400 * Math.pow(random(), 1.6);
      const theta = 2 * Math.PI * random();
      const u = r * Math.cos(theta);
      const v = r * Math.sin(theta);
      let re = 0;
      let im = 0;
      for (const s of field.sources) {
        const phase = (-2 * Math.PI * ((u / lambda) * Math.sin(s.dl * DEG) + (v / lambda) * Math.sin(s.dm * DEG)));
        re += s.flux * Math.cos(phase);
        im += s.flux * Math.sin(phase);
      }
      records.set([u, v, re + 0.5 * gauss(), im + 0.5 * gauss()], k * 4);
    }
    const name = `${options.observation}_SB${String(sb).padStart(3, '0')}_uv.vis`;
    files.push({ name, content: encodeVisibilities({ telescope: 'LOFAR', observation: options.observation, target: field.target, ra: field.ra, dec: field.dec, subband: sb, frequency, dateObs: '2020-12-18T02:00:00' }, records) });
  }
  return files;
}

/** A dirty image: `size × size` pixels, row-major from the bottom-left (FITS order). */
export interface DirtyImage {
  size: number;
  /** Pixel size, degrees. */
  cell: number;
  pixels: Float32Array;
  ra: number;
  dec: number;
  target: string;
  /** Mean frequency of the inputs, Hz. */
  frequency: number;
  visibilities: number;
  peak: { x: number; y: number; value: number; ra: number; dec: number };
  rms: number;
}

/**
 * Make a dirty image by direct Fourier transform of every visibility of every subband (each at its
 * own frequency), normalised so that a point source of S Jy peaks at S Jy/beam.
 */
export function makeDirtyImage(subbands: readonly Visibilities[], options: { size?: number; cell?: number } = {}): DirtyImage {
  if (subbands.length === 0) throw new Error('no visibilities to image');
  const size = options.size ?? 128;
  const cell = options.cell ?? 2.5 / 60; // 2.5 arcmin
  const first = subbands[0]!.header;
  const half = size / 2;
  // exp(2πi(u l + v m)) = exp(2πi u l) · exp(2πi v m): separable, so precompute both factors per visibility.
  const ls = Float64Array.from({ length: size }, (_, i) => Math.sin((half - i) * cell * DEG)); // RA grows to the left
  const ms = Float64Array.from({ length: size }, (_, j) => Math.sin((j - half) * cell * DEG));
  const image = new Float64Array(size * size);
  let count = 0;
  let freqSum = 0;
  const cu = new Float64Array(size);
  const su = new Float64Array(size);
  const cv = new Float64Array(size);
  const sv = new Float64Array(size);
  for (const { header, data } of subbands) {
    const lambda = C / header.frequency;
    for (let k = 0; k < header.count; k++) {
      const u = data[k * 4]! / lambda;
      const v = data[k * 4 + 1]! / lambda;
      const re = data[k * 4 + 2]!;
      const im = data[k * 4 + 3]!;
      for (let i = 0; i < size; i++) {
        const p = 2 * Math.PI * u * ls[i]!;
        cu[i] = Math.cos(p);
        su[i] = Math.sin(p);
      }
      for (let j = 0; j < size; j++) {
        const p = 2 * Math.PI * v * ms[j]!;
        // (re + i·im) · exp(i·p), real part, combined with the u factor below
        cv[j] = re * Math.cos(p) - im * Math.sin(p);
        sv[j] = re * Math.sin(p) + im * Math.cos(p);
      }
      for (let j = 0; j < size; j++) {
        const a = cv[j]!;
        const b = sv[j]!;
        const row = j * size;
        for (let i = 0; i < size; i++) image[row + i]! += a * cu[i]! - b * su[i]!;
      }
      count++;
    }
    freqSum += header.frequency * header.count;
  }
  const pixels = new Float32Array(size * size);
  let peak = { x: 0, y: 0, value: -Infinity };
  for (let p = 0; p < pixels.length; p++) {
    const value = image[p]! / count;
    pixels[p] = value;
    if (value > peak.value) peak = { x: p % size, y: Math.floor(p / size), value };
  }
  // Noise: rms of the outer border (away from the sources).
  let sq = 0;
  let n = 0;
  for (let j = 0; j < size; j++)
    for (let i = 0; i < size; i++)
      if (i < 8 || j < 8 || i >= size - 8 || j >= size - 8) {
        sq += pixels[j * size + i]! ** 2;
        n++;
      }
  const rms = Math.sqrt(sq / n);
  const peakRa = first.ra + ((half - peak.x) * cell) / Math.cos(first.dec * DEG);
  const peakDec = first.dec + (peak.y - half) * cell;
  return { size, cell, pixels, ra: first.ra, dec: first.dec, target: first.target, frequency: freqSum / count, visibilities: count, peak: { ...peak, ra: peakRa, dec: peakDec }, rms };
}

function card(key: string, value: string | number | boolean, comment = ''): string {
  let v: string;
  if (typeof value === 'boolean') v = (value ? 'T' : 'F').padStart(20);
  else if (typeof value === 'number') v = (Number.isInteger(value) ? String(value) : value.toExponential(10).toUpperCase()).padStart(20);
  else v = `'${value.replace(/'/g, "''").padEnd(8)}'`.padEnd(20);
  const text = `${key.padEnd(8)}= ${v}${comment ? ` / ${comment}` : ''}`;
  return text.slice(0, 80).padEnd(80);
}

/** A FITS file (primary HDU, BITPIX -32, SIN projection) of the image, in 2880-byte blocks. */
export function toFits(img: DirtyImage, history: readonly string[] = []): Uint8Array {
  const cards = [
    card('SIMPLE', true, 'conforms to FITS standard'),
    card('BITPIX', -32, 'IEEE single precision'),
    card('NAXIS', 2),
    card('NAXIS1', img.size),
    card('NAXIS2', img.size),
    card('BUNIT', 'JY/BEAM'),
    card('BTYPE', 'Intensity'),
    card('OBJECT', img.target),
    card('TELESCOP', 'LOFAR'),
    card('INSTRUME', 'HBA'),
    card('CTYPE1', 'RA---SIN'),
    card('CRVAL1', img.ra, 'degrees'),
    card('CRPIX1', img.size / 2 + 1),
    card('CDELT1', -img.cell, 'degrees'),
    card('CUNIT1', 'deg'),
    card('CTYPE2', 'DEC--SIN'),
    card('CRVAL2', img.dec, 'degrees'),
    card('CRPIX2', img.size / 2 + 1),
    card('CDELT2', img.cell, 'degrees'),
    card('CUNIT2', 'deg'),
    card('RESTFRQ', Math.round(img.frequency), 'Hz'),
    card('EQUINOX', 2000),
    card('RADESYS', 'FK5'),
    card('DATAMAX', img.peak.value),
    card('NVIS', img.visibilities, 'visibilities imaged (DFT)'),
    card('ORIGIN', 'dlaas lofar-image-roundtrip'),
    ...history.map((h) => `HISTORY ${h}`.slice(0, 80).padEnd(80)),
    'END'.padEnd(80),
  ];
  const headerBytes = Math.ceil((cards.length * 80) / 2880) * 2880;
  const dataBytes = Math.ceil((img.pixels.length * 4) / 2880) * 2880;
  const out = new Uint8Array(headerBytes + dataBytes);
  out.fill(0x20, 0, headerBytes); // header padding is ASCII blanks
  out.set(new TextEncoder().encode(cards.join('')), 0);
  const view = new DataView(out.buffer, headerBytes);
  img.pixels.forEach((x, i) => view.setFloat32(i * 4, x, false)); // big-endian; data padding stays zero
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO 3309), as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An 8-bit greyscale PNG preview (north up, asinh stretch). */
export function toPng(img: DirtyImage): Uint8Array {
  const { size, pixels } = img;
  // Black at -2σ, white at the peak, asinh in between so faint sources show next to a bright one.
  const min = -2 * img.rms;
  const max = img.peak.value;
  const stretch = (v: number) => Math.asinh(Math.max(0, v - min) / (0.01 * (max - min || 1))) / Math.asinh(100);
  const raw = new Uint8Array(size * (size + 1));
  for (let row = 0; row < size; row++) {
    const y = size - 1 - row; // FITS rows go up, PNG rows go down
    raw[row * (size + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) raw[row * (size + 1) + 1 + x] = Math.max(0, Math.min(255, Math.round(255 * stretch(pixels[y * size + x]!))));
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, size);
  v.setUint32(4, size);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale, deflate, adaptive filtering, no interlace
  const text = new TextEncoder().encode(`Comment\0${img.target} dirty image, ${(img.frequency / 1e6).toFixed(1)} MHz, made by dlaas`);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('tEXt', text), chunk('IDAT', new Uint8Array(deflateSync(raw))), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
