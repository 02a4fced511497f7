// adler32 / md5 throughput of the SDK's checksum path (StreamChecksum: hash-wasm) over 1 GiB in memory
// (a 64 MiB buffer hashed 16 times, in 64 KiB updates as a download feeds it), in Node and in Chromium,
// against Python's zlib.adler32 (C) and Node's crypto md5 on the same bytes, same chunking.
import { content } from './fixtures/storage.mjs';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { StreamChecksum } from 'dlaas';
import { median, spread } from './stats.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const CHUNK = 64 << 10;
const MIB = 64;

const fill = (mib) => content(mib << 20, 0x9e3779b9);

async function sdk(buf, times, md5) {
  const t = performance.now();
  const sum = await StreamChecksum.create({ md5 });
  for (let k = 0; k < times; k++) for (let i = 0; i < buf.length; i += CHUNK) sum.update(buf.subarray(i, i + CHUNK));
  sum.digest();
  return (buf.length * times) / ((performance.now() - t) / 1000);
}

async function sdkMd5(buf, times) {
  // The md5 hasher StreamChecksum uses (hash-wasm), alone.
  const { createMD5 } = await import('hash-wasm');
  const t = performance.now();
  const h = await createMD5();
  h.init();
  for (let k = 0; k < times; k++) for (let i = 0; i < buf.length; i += CHUNK) h.update(buf.subarray(i, i + CHUNK));
  h.digest('hex');
  return (buf.length * times) / ((performance.now() - t) / 1000);
}

function nodeMd5(buf, times) {
  const t = performance.now();
  const h = createHash('md5');
  for (let k = 0; k < times; k++) for (let i = 0; i < buf.length; i += CHUNK) h.update(buf.subarray(i, i + CHUNK));
  h.digest('hex');
  return (buf.length * times) / ((performance.now() - t) / 1000);
}

const PY = `
import sys, time, zlib
data = open(sys.argv[1], 'rb').read()
mv = memoryview(data)
times = int(sys.argv[2])
C = ${CHUNK}
t = time.perf_counter()
a = 1
for k in range(times):
    for i in range(0, len(data), C):
        a = zlib.adler32(mv[i:i + C], a)
print(len(data) * times / (time.perf_counter() - t))
`;

async function chromium(times, reps) {
  if (!existsSync('/usr/bin/chromium')) return undefined;
  const { chromium } = await import('playwright-core');
  const out = await esbuild.build({ entryPoints: [`${here}fixtures/checksum-page.mjs`], bundle: true, format: 'iife', platform: 'browser', write: false, logLevel: 'silent' });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--js-flags=--max-old-space-size=4096'] });
  try {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><title>checksum</title>');
    await page.addScriptTag({ content: out.outputFiles[0].text });
    const r = { adler32: [], md5: [], both: [], version: browser.version() };
    for (let i = 0; i < reps; i++) for (const what of ['adler32', 'md5', 'both']) r[what].push(await page.evaluate(([m, t, w]) => globalThis.runChecksums(m, t, w), [MIB, times, what]));
    return r;
  } finally {
    await browser.close();
  }
}

export default async function checksum({ quick = false } = {}) {
  const times = quick ? 2 : 16;
  const reps = quick ? 1 : 3;
  const buf = fill(MIB);
  const dir = mkdtempSync(join(tmpdir(), 'dlaas-bench-'));
  const file = join(dir, 'data.bin');
  writeFileSync(file, buf);
  writeFileSync(join(dir, 'adler.py'), PY);
  const r = { sdkAdler: [], zlib: [], sdkMd5: [], nodeMd5: [], sdkBoth: [] };
  try {
    await sdk(buf, 1, true); // instantiate the wasm modules once
    for (let i = 0; i < reps; i++) {
      r.sdkAdler.push(await sdk(buf, times, false));
      const { stdout } = await run('python3', [join(dir, 'adler.py'), file, String(times)]);
      r.zlib.push(Number(stdout.trim()));
      r.sdkMd5.push(await sdkMd5(buf, times));
      r.nodeMd5.push(nodeMd5(buf, times));
      r.sdkBoth.push(await sdk(buf, times, true));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const gbs = (xs) => Number((median(xs) / 1e9).toFixed(2));
  const ratio = (a, b) => a.map((x, i) => x / b[i]);
  const total = `${(MIB * times) >> 10 ? `${(MIB * times) / 1024} GiB` : `${MIB * times} MiB`}`;
  const figures = [
    { figure: `adler32, SDK (hash-wasm), Node, ${total}`, median: gbs(r.sdkAdler), spread: spread(r.sdkAdler), unit: 'GB/s' },
    { figure: `adler32, Python zlib (C), ${total}`, median: gbs(r.zlib), spread: spread(r.zlib), unit: 'GB/s' },
    { figure: 'adler32 SDK / zlib, Node', median: Number(median(ratio(r.sdkAdler, r.zlib)).toFixed(3)), spread: spread(ratio(r.sdkAdler, r.zlib)), unit: '×', goal: '≥ 0.7' },
    { figure: `md5, SDK (hash-wasm), Node, ${total}`, median: gbs(r.sdkMd5), spread: spread(r.sdkMd5), unit: 'GB/s' },
    { figure: `md5, Node crypto, ${total}`, median: gbs(r.nodeMd5), spread: spread(r.nodeMd5), unit: 'GB/s' },
    { figure: 'md5 SDK / Node crypto, Node', median: Number(median(ratio(r.sdkMd5, r.nodeMd5)).toFixed(3)), spread: spread(ratio(r.sdkMd5, r.nodeMd5)), unit: '×', goal: '≥ 0.7' },
    { figure: 'adler32+md5 in one pass, SDK, Node', median: gbs(r.sdkBoth), spread: spread(r.sdkBoth), unit: 'GB/s' },
  ];
  const c = await chromium(times, reps);
  if (c) {
    const zlib = median(r.zlib);
    const md5 = median(r.nodeMd5);
    figures.push(
      { figure: `adler32, SDK, Chromium ${c.version}`, median: gbs(c.adler32), spread: spread(c.adler32), unit: 'GB/s' },
      { figure: 'adler32 SDK in Chromium / zlib', median: Number((median(c.adler32) / zlib).toFixed(3)), spread: spread(c.adler32), unit: '×', goal: '≥ 0.7' },
      { figure: `md5, SDK, Chromium ${c.version}`, median: gbs(c.md5), spread: spread(c.md5), unit: 'GB/s' },
      { figure: 'md5 SDK in Chromium / Node crypto', median: Number((median(c.md5) / md5).toFixed(3)), spread: spread(c.md5), unit: '×', goal: '≥ 0.7' },
      { figure: 'adler32+md5 in one pass, SDK, Chromium', median: gbs(c.both), spread: spread(c.both), unit: 'GB/s' },
    );
  } else figures.push({ figure: 'checksums in Chromium', median: null, spread: 0, unit: '', note: 'skipped: /usr/bin/chromium not found (apt-get install chromium)' });
  return figures;
}
