/**
 * Helpers for the tests of the examples, the demo, the notebook and the CLI: run a program against
 * the embedded local Data Lake, and check the files they make (FITS, PNG) independently of the code
 * that wrote them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { crc32, inflateSync } from 'node:zlib';

export const root = resolve(import.meta.dirname, '../..');

/** The examples import `dlaas` (the package itself → dist/): it must be built. */
export function requireBuild(): void {
  for (const f of ['dist/index.js', 'dist/node.js', 'dist/testing.js', 'dist/cli.js']) {
    if (!existsSync(resolve(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does)`);
  }
}

/** The result of a finished program. */
export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running program: output so far, a way to wait for a line, and its end. */
export interface Running {
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first match of `re` in stdout+stderr (rejects after `timeoutMs`). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  done: Promise<Finished>;
  kill(): void;
}

/** Start `node <args>` (the same Node that runs the tests; or `command`) with exactly `env` (+ PATH). */
export function start(args: string[], options: { env: Record<string, string>; cwd: string; input?: string; command?: string }): Running {
  const child = spawn(options.command ?? process.execPath, args, { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = (stdout + stderr).match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  child.stdin.end(options.input ?? '');
  const done = new Promise<Finished>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((res, rej) => {
        const m = (stdout + stderr).match(re);
        if (m) return res(m);
        const timer = setTimeout(() => rej(new Error(`no ${re} within ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`)), timeoutMs);
        waiters.push({ re, resolve: (x) => (clearTimeout(timer), res(x)) });
      });
    },
    done,
    kill: () => void child.kill('SIGTERM'),
  };
}

/** Run to the end. */
export function runNode(args: string[], options: { env: Record<string, string>; cwd: string; input?: string }): Promise<Finished> {
  return start(args, options).done;
}

/** Check a FITS primary HDU: 2880-byte blocks, mandatory keywords in order, END; returns the header and the float32 data. */
export function checkFits(bytes: Uint8Array): { header: Record<string, string>; data: Float32Array | undefined } {
  if (bytes.length === 0 || bytes.length % 2880 !== 0) throw new Error(`FITS size ${bytes.length} is not a multiple of 2880`);
  const text = new TextDecoder('latin1').decode(bytes);
  const header: Record<string, string> = {};
  const order: string[] = [];
  let end = -1;
  for (let i = 0; i < text.length; i += 80) {
    const card = text.slice(i, i + 80);
    if (!/^[\x20-\x7e]{80}$/.test(card)) throw new Error(`FITS card ${i / 80} is not 80 printable ASCII characters`);
    const key = card.slice(0, 8).trimEnd();
    if (key === 'END') {
      end = i + 80;
      break;
    }
    order.push(key);
    if (card.slice(8, 10) === '= ') {
      const value = card.slice(10);
      const quoted = /^\s*'((?:[^']|'')*)'/.exec(value);
      header[key] = quoted ? quoted[1]!.replace(/''/g, "'").trimEnd() : value.replace(/\/.*$/, '').trim();
    }
  }
  if (end < 0) throw new Error('FITS header has no END card');
  if (order.slice(0, 3).join(' ') !== 'SIMPLE BITPIX NAXIS' || header.SIMPLE !== 'T') throw new Error(`FITS header starts ${order.slice(0, 3).join(' ')}`);
  const dataStart = Math.ceil(end / 2880) * 2880;
  if (/[^ ]/.test(text.slice(end, dataStart))) throw new Error('FITS header padding is not blanks');
  const naxis = Number(header.NAXIS);
  const dims = Array.from({ length: naxis }, (_, i) => Number(header[`NAXIS${i + 1}`]));
  const count = dims.reduce((a, b) => a * b, naxis ? 1 : 0);
  const bitpix = Number(header.BITPIX);
  if (Math.ceil(((count * Math.abs(bitpix)) / 8) / 2880) * 2880 + dataStart !== bytes.length) throw new Error('FITS data size does not match NAXISn × BITPIX');
  let data: Float32Array | undefined;
  if (bitpix === -32) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, count * 4);
    data = Float32Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, false));
  }
  return { header, data };
}

/** Check a PNG: signature, every chunk's CRC, IHDR, and that IDAT inflates to the image size. */
export function checkPng(bytes: Uint8Array): { width: number; height: number; chunks: string[] } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => bytes[i] === b)) throw new Error('no PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let colorType = -1;
  let at = 8;
  while (at < bytes.length) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + len);
    const crc = view.getUint32(at + 8 + len);
    if (crc32(bytes.subarray(at + 4, at + 8 + len)) !== crc) throw new Error(`PNG chunk ${type}: bad CRC`);
    chunks.push(type);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      colorType = bytes[at + 17]!;
      if (bytes[at + 16] !== 8) throw new Error('PNG bit depth is not 8');
    }
    if (type === 'IDAT') idat.push(body);
    at += 12 + len;
  }
  if (chunks[0] !== 'IHDR' || chunks.at(-1) !== 'IEND') throw new Error(`PNG chunks ${chunks.join(',')}`);
  const raw = inflateSync(Buffer.concat(idat));
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType as 0] ?? 0;
  if (raw.length !== height * (width * channels + 1)) throw new Error(`PNG IDAT inflates to ${raw.length} bytes, expected ${height * (width * channels + 1)}`);
  return { width, height, chunks };
}
