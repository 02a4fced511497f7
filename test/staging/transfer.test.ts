/**
 * The transfer engine against a plain HTTP storage server on loopback (test/support/plain-storage.ts,
 * node:http, no SDK code), through both bulk HTTP clients (`fetch` and `dlaas/node`'s node:http):
 * cancellation at every point with nothing published and a resume with `Range`, parallel `Range`
 * segments verified by the combined adler32 (a corrupted segment is caught), hostile names and
 * symlinks, and two processes staging into one directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ChecksumMismatchError, checksumOf, createDataLake, fetchStorageHttp, type StageEvent, type StorageHttp } from '../../src/index.js';
import { fileSink } from '../../src/node.js';
import { nodeStorageHttp } from '../../src/node/storage-http.js';
import { createRucioEmulator, type RucioEmulator } from '../../src/testing.js';
import { startPlainStorage, type PlainStorage } from '../support/plain-storage.js';
import { requireBuild, root } from '../examples/helpers.ts';
import { listFiles, noise, tempDir } from './helpers.js';

const MiB = 1 << 20;
let plain: PlainStorage;
let out: { dir: string; remove: () => void };
beforeAll(async () => void (plain = await startPlainStorage()));
afterAll(async () => plain?.close());
beforeEach(() => {
  plain.files.clear();
  plain.requests.length = 0;
  plain.plan = () => undefined;
  out = tempDir('transfer');
});
afterEach(() => out.remove());

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

interface World {
  rucio: RucioEmulator;
  token: string;
  seed(name: string, files: { name: string; content: Uint8Array }[], rses?: string[]): Promise<void>;
  lake(http: StorageHttp, o?: { storageTimeout?: number | false }): ReturnType<typeof createDataLake>;
}

function world(): World {
  const rucio = createRucioEmulator();
  rucio.addAccount('jdoe', { admin: true });
  rucio.addScope('user.jdoe', 'jdoe');
  for (const [rse, prefix] of [
    ['PLAIN', '/rucio/'],
    ['PLAIN2', '/rucio2/'],
  ] as const) {
    rucio.addRse(rse, { lfn2pfnAlgorithm: 'identity', protocols: [{ scheme: 'http', hostname: '127.0.0.1', port: plain.port, prefix }] });
  }
  const token = rucio.issueToken('jdoe');
  return {
    rucio,
    token,
    async seed(name, files, rses = ['PLAIN']) {
      await rucio.seedDataset({ scope: 'user.jdoe', name, rses, files });
      for (const f of files) for (const rse of rses) plain.files.set(`/${rse === 'PLAIN' ? 'rucio' : 'rucio2'}/user/jdoe/${f.name}`, f.content); // identity: scope dots become directories
    },
    lake: (http, o = {}) => createDataLake({ rucio: { baseUrl: rucio.baseUrl, account: 'jdoe', token, fetch: rucio.fetch, retry: { limit: 0 } }, auth: { storageToken: 'storage-token' }, staging: { storageHttp: http, ...o } }),
  };
}

/** Resolves once a download's progress shows at least `bytes` received. */
function received(bytes: number): { onProgress: (e: StageEvent) => void; reached: Promise<void> } {
  let done!: () => void;
  const reached = new Promise<void>((r) => (done = r));
  return { reached, onProgress: (e) => void (e.type === 'bytes' && e.overallBytes >= bytes && done()) };
}

/**
 * The cancellation tests hold the server silent until the client goes away, and switch off every
 * other way out: no storage timeout, and a stall watchdog no test outlives. The abort is then the
 * only thing that can settle the operation: a busy machine cannot fake it, and an abort that is not
 * wired through times the test out instead of passing late.
 */
const NEVER = 86_400_000; // a day, in ms

const clients: [string, () => StorageHttp][] = [
  ['fetch', () => fetchStorageHttp()],
  ['node:http', () => nodeStorageHttp()],
];

describe.each(clients)('cancellation (%s)', (_label, http) => {
  it('an abort mid-body rejects (the stalled server never answers, no timeout or watchdog could end it), publishes nothing, keeps the partial; the re-run resumes with Range and ends verified', async () => {
    const w = world();
    const content = noise(6 * MiB, 11);
    await w.seed('ds', [{ name: 'big.bin', content }]);
    plain.plan = (r) => (r.method === 'GET' ? { holdAfter: 2 * MiB } : undefined);
    const lake = w.lake(http(), { storageTimeout: false });
    const ac = new AbortController();
    const got = received(2 * MiB);
    const staged = lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), streams: 1, stallTimeout: NEVER, signal: ac.signal, onProgress: got.onProgress });
    staged.catch(() => {});
    // The server has sent 2 MiB and gone silent; the SDK has received them.
    await Promise.all([plain.held(), got.reached]);
    const closed = plain.closed();
    ac.abort();
    await expect(staged).rejects.toBeInstanceOf(AbortError);
    // The server saw the connection go: the SDK cancelled the body itself.
    expect((await closed).closedEarly).toBe(true);
    expect(existsSync(join(out.dir, 'user.jdoe/big.bin'))).toBe(false);
    const kept = readdirSync(join(out.dir, 'user.jdoe'));
    expect(kept.some((n) => n.endsWith('.dlaas-part'))).toBe(true);
    expect(kept).toContain('.big.bin.dlaas-state');
    expect(kept.some((n) => n.endsWith('.dlaas-lock'))).toBe(false);

    plain.plan = () => undefined;
    plain.requests.length = 0;
    const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), streams: 1 });
    expect(r.files[0]).toMatchObject({ status: 'OK', verified: ['size', 'adler32'] });
    const ranges = plain.requests.filter((q) => q.method === 'GET').map((q) => q.range);
    expect(ranges).toHaveLength(1);
    expect(ranges[0]).toMatch(/^bytes=[1-9]\d*-$/);
    expect(Number(/=(\d+)-/.exec(ranges[0] as string)?.[1])).toBeGreaterThanOrEqual(MiB);
    expect(md5(readFileSync(join(out.dir, 'user.jdoe/big.bin')))).toBe(md5(content));
    expect(listFiles(out.dir)).toEqual(['user.jdoe/big.bin']);
  });

  it('an abort while the response headers are awaited rejects (the server never answers, no storage timeout) and leaves nothing', async () => {
    const w = world();
    await w.seed('ds', [{ name: 'a.bin', content: noise(MiB, 3) }]);
    plain.plan = (r) => (r.method === 'GET' ? { holdHeaders: true } : undefined);
    const ac = new AbortController();
    const staged = w.lake(http(), { storageTimeout: false }).staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), stallTimeout: NEVER, signal: ac.signal });
    staged.catch(() => {});
    await plain.held();
    const closed = plain.closed();
    ac.abort();
    await expect(staged).rejects.toBeInstanceOf(AbortError);
    // The SDK closed the connection it was waiting on.
    expect((await closed).closedEarly).toBe(true);
    expect(plain.requests.filter((q) => q.method === 'GET')).toHaveLength(1);
    expect(listFiles(out.dir)).toEqual([]);
  });

  it('an abort mid-upload rejects (the server stopped reading and never answers; PUTs have no timeout), leaves the replica COPYING and no temporary object; the re-run finishes it', async () => {
    const w = world();
    const content = noise(4 * MiB, 5);
    const lake = w.lake(http(), { storageTimeout: false });
    const ac = new AbortController();
    plain.plan = (r) => (r.method === 'PUT' ? { holdPutAfter: MiB } : undefined);
    const up = lake.staging.upload([{ name: 'result.bin', data: new Blob([content as BlobPart]) }], { scope: 'user.jdoe', rse: 'PLAIN', signal: ac.signal });
    up.catch(() => {});
    await plain.held();
    ac.abort();
    await expect(up).rejects.toBeInstanceOf(AbortError);
    const state = () => [...w.rucio.fileReplicas()].find((r) => r.did.name === 'result.bin')?.state;
    expect(state()).toBe('COPYING');
    plain.plan = () => undefined;
    const again = await lake.staging.upload([{ name: 'result.bin', data: new Blob([content as BlobPart]) }], { scope: 'user.jdoe', rse: 'PLAIN' });
    expect(again.files[0]).toMatchObject({ status: 'OK', adler32: (await checksumOf(content)).adler32 });
    expect(state()).toBe('AVAILABLE');
    expect([...plain.files.keys()].filter((k) => k.includes('result.bin'))).toEqual(['/rucio/user/jdoe/result.bin']);
    expect(md5(plain.files.get('/rucio/user/jdoe/result.bin') as Uint8Array)).toBe(md5(content));
    // The temporary object of each run had its own private name.
    const temps = new Set(plain.requests.filter((q) => q.method === 'PUT').map((q) => q.path));
    expect(temps.size).toBe(plain.requests.filter((q) => q.method === 'PUT').length);
    for (const t of temps) expect(t).toMatch(/^\/rucio\/user\/jdoe\/result\.bin\.[0-9a-f]{8}\.rucio\.upload$/);
  });
});

describe('uploads to a storage that sends no Digest', () => {
  const state = (w: World, name: string) => [...w.rucio.fileReplicas()].find((r) => r.did.name === name)?.state;
  const temps = () => [...plain.files.keys()].filter((k) => k.endsWith('.rucio.upload'));

  it('bytes corrupted on the way are caught by reading the object back: FAILED at verify, replica COPYING, no temporary object; a re-run completes', async () => {
    const w = world();
    const content = noise(3 * MiB + 17, 31);
    const lake = w.lake(nodeStorageHttp());
    plain.plan = (r) => (r.method === 'HEAD' ? { noDigest: true } : r.method === 'PUT' ? { corruptPutAt: 2 * MiB } : undefined);
    const first = await lake.staging.upload([{ name: 'nodigest.bin', data: content }], { scope: 'user.jdoe', rse: 'PLAIN' });
    expect(first.files[0]).toMatchObject({ status: 'FAILED', step: 'verify' });
    expect(first.files[0]?.error?.code).toBe('DLAAS_CHECKSUM_MISMATCH');
    expect(first.files[0]?.error?.message).toMatch(/read back/);
    expect(state(w, 'nodigest.bin')).toBe('COPYING');
    expect(temps()).toEqual([]);
    expect(plain.files.has('/rucio/user/jdoe/nodigest.bin')).toBe(false);
    // The object was read back whole before the verdict.
    const readBack = plain.requests.filter((q) => q.method === 'GET' && q.path.endsWith('.rucio.upload'));
    expect(readBack).toHaveLength(1);
    expect(readBack[0]?.bytes).toBe(content.byteLength);

    plain.plan = (r) => (r.method === 'HEAD' ? { noDigest: true } : undefined);
    const second = await lake.staging.upload([{ name: 'nodigest.bin', data: content }], { scope: 'user.jdoe', rse: 'PLAIN' });
    expect(second.files[0]).toMatchObject({ status: 'OK' });
    expect(state(w, 'nodigest.bin')).toBe('AVAILABLE');
    expect(md5(plain.files.get('/rucio/user/jdoe/nodigest.bin') as Uint8Array)).toBe(md5(content));
  });

  it("verify: 'digest' never reads back: such a file fails with DLAAS_UNVERIFIED and stays COPYING", async () => {
    const w = world();
    const content = noise(MiB, 32);
    plain.plan = (r) => (r.method === 'HEAD' ? { noDigest: true } : undefined);
    const r = await w.lake(nodeStorageHttp()).staging.upload([{ name: 'strict.bin', data: content }], { scope: 'user.jdoe', rse: 'PLAIN', verify: 'digest' });
    expect(r.files[0]).toMatchObject({ status: 'FAILED', step: 'verify' });
    expect(r.files[0]?.error?.code).toBe('DLAAS_UNVERIFIED');
    expect(state(w, 'strict.bin')).toBe('COPYING');
    expect(temps()).toEqual([]);
    expect(plain.requests.some((q) => q.method === 'GET')).toBe(false);
  });

  it('a storage that sends the Digest is trusted without a read-back', async () => {
    const w = world();
    const content = noise(MiB, 33);
    const r = await w.lake(nodeStorageHttp()).staging.upload([{ name: 'digest.bin', data: content }], { scope: 'user.jdoe', rse: 'PLAIN' });
    expect(r.files[0]).toMatchObject({ status: 'OK' });
    expect(plain.requests.some((q) => q.method === 'GET')).toBe(false);
  });
});

describe.each(clients)('parallel Range streams (%s)', (_label, http) => {
  it('downloads a large file in several segments, verified by the combined adler32', async () => {
    const w = world();
    const content = noise(40 * MiB + 12345, 21);
    await w.seed('ds', [{ name: 'big.bin', content }]);
    const events: StageEvent[] = [];
    const r = await w.lake(http()).staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), streams: 4, segmentSize: 8 * MiB, onProgress: (e) => events.push(e) });
    expect(r.files[0]).toMatchObject({ status: 'OK', verified: ['size', 'adler32'], adler32: (await checksumOf(content)).adler32 });
    const ranges = plain.requests.filter((q) => q.method === 'GET').map((q) => q.range);
    expect(ranges).toHaveLength(4);
    expect(ranges.every((x) => x?.startsWith('bytes='))).toBe(true);
    expect(plain.maxConcurrentGets).toBeGreaterThanOrEqual(2);
    expect(md5(readFileSync(join(out.dir, 'user.jdoe/big.bin')))).toBe(md5(content));
    const last = events.filter((e) => e.type === 'bytes').at(-1);
    expect(last).toMatchObject({ overallBytes: content.byteLength });
  });

  it('a corrupted segment is detected: the next replica is used, or the file fails with nothing published', async () => {
    const w = world();
    const content = noise(32 * MiB, 22);
    await w.seed('ds', [{ name: 'c.bin', content }], ['PLAIN', 'PLAIN2']);
    // The first replica corrupts one byte in its third segment.
    plain.plan = (r) => (r.method === 'GET' && r.path.startsWith('/rucio/') ? { corrupt: [20 * MiB + 7] } : undefined);
    const lake = w.lake(http());
    const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), streams: 4, segmentSize: 8 * MiB, preferRses: ['PLAIN'] });
    expect(r.files[0]).toMatchObject({ status: 'OK', verified: ['size', 'adler32'] });
    expect(r.files[0]?.sourcePfn).toContain('/rucio2/');
    expect(md5(readFileSync(join(out.dir, 'user.jdoe/c.bin')))).toBe(md5(content));
    // Only a corrupt replica: FAILED with the adler32 mismatch, nothing at the final path.
    const only = tempDir('transfer-only');
    try {
      plain.plan = (q) => (q.method === 'GET' ? { corrupt: [3] } : undefined);
      const f = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(only.dir), streams: 4, segmentSize: 8 * MiB });
      expect(f.files[0]?.status).toBe('FAILED');
      expect(f.files[0]?.error).toBeInstanceOf(ChecksumMismatchError);
      expect((f.files[0]?.error as ChecksumMismatchError).check).toBe('adler32');
      expect(existsSync(join(only.dir, 'user.jdoe/c.bin'))).toBe(false);
    } finally {
      only.remove();
    }
  });

  it('a multi-stream download aborted midway resumes each segment where it stopped', async () => {
    const w = world();
    const content = noise(32 * MiB, 23);
    await w.seed('ds', [{ name: 'm.bin', content }]);
    plain.plan = (q) => (q.method === 'GET' ? { holdAfter: 3 * MiB } : undefined);
    const lake = w.lake(http());
    const ac = new AbortController();
    const got = received(4 * 3 * MiB);
    const staged = lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), streams: 4, segmentSize: 8 * MiB, signal: ac.signal, onProgress: got.onProgress });
    staged.catch(() => {});
    // Each of the 4 streams got 3 MiB, then its server went silent.
    await got.reached;
    ac.abort();
    await expect(staged).rejects.toBeInstanceOf(AbortError);
    plain.plan = () => undefined;
    plain.requests.length = 0;
    const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir), streams: 4, segmentSize: 8 * MiB });
    expect(r.files[0]).toMatchObject({ status: 'OK', verified: ['size', 'adler32'] });
    const starts = plain.requests.filter((q) => q.method === 'GET').map((q) => Number(/=(\d+)-/.exec(q.range ?? '')?.[1]));
    // Each of the 4 segments continues past the bytes it already had (≥ 1 MiB into each 8 MiB segment).
    expect(starts).toHaveLength(4);
    for (const [i, s] of [...starts].sort((a, b) => a - b).entries()) expect(s - i * 8 * MiB).toBeGreaterThanOrEqual(MiB);
    expect(md5(readFileSync(join(out.dir, 'user.jdoe/m.bin')))).toBe(md5(content));
  });
});

describe('hostile names and shared destinations', () => {
  it('a dataset holding both x and x.part stages both, right', async () => {
    const w = world();
    const x = noise(MiB, 31);
    const xpart = noise(MiB + 7, 32);
    await w.seed('ds', [
      { name: 'x', content: x },
      { name: 'x.part', content: xpart },
    ]);
    const r = await w.lake(fetchStorageHttp()).staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(out.dir) });
    expect(r.status, JSON.stringify(r.files.map((f) => [f.status, f.error?.message]))).toBe('AVAILABLE');
    expect(md5(readFileSync(join(out.dir, 'user.jdoe/x')))).toBe(md5(x));
    expect(md5(readFileSync(join(out.dir, 'user.jdoe/x.part')))).toBe(md5(xpart));
    expect(listFiles(out.dir)).toEqual(['user.jdoe/x', 'user.jdoe/x.part']);
  });

  it('a planted symlink at the final path, or as the lock, fails that file only; the targets are untouched', async () => {
    const w = world();
    await w.seed('ds', [
      { name: 'a', content: noise(1000, 1) },
      { name: 'b', content: noise(1000, 2) },
      { name: 'c', content: noise(1000, 3) },
    ]);
    const victim = join(out.dir, 'victim');
    writeFileSync(victim, 'precious');
    const dest = join(out.dir, 'dest');
    mkdirSync(join(dest, 'user.jdoe'), { recursive: true });
    symlinkSync(victim, join(dest, 'user.jdoe/a'));
    symlinkSync(victim, join(dest, 'user.jdoe/.b.dlaas-lock'));
    // The old partial name, planted: now just an unrelated name nothing writes to.
    symlinkSync(victim, join(dest, 'user.jdoe/c.part'));
    const r = await w.lake(fetchStorageHttp()).staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(dest) });
    const by = Object.fromEntries(r.files.map((f) => [f.did?.name, f]));
    expect(by.a).toMatchObject({ status: 'FAILED', error: { argument: 'destination' } });
    expect(by.b).toMatchObject({ status: 'FAILED', error: { argument: 'destination' } });
    expect(by.c).toMatchObject({ status: 'OK' });
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });

  it('two processes staging one dataset into one directory at the same time end with every file right', async () => {
    requireBuild();
    const w = world();
    const files = Array.from({ length: 4 }, (_, i) => ({ name: `f${i}.bin`, content: noise(16 * MiB, 40 + i) }));
    await w.seed('ds', files);
    const url = await w.rucio.listen();
    const script = join(out.dir, 'stage.mjs');
    writeFileSync(
      script,
      `import { createDataLake } from ${JSON.stringify(join(root, 'dist/index.js'))};
import { fileSink, nodeStorageHttp } from ${JSON.stringify(join(root, 'dist/node.js'))};
const [url, token, dest] = process.argv.slice(2);
const lake = createDataLake({ rucio: { baseUrl: url, account: 'jdoe', token }, auth: { storageToken: 'storage-token' }, staging: { storageHttp: nodeStorageHttp() } });
const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(dest), concurrency: 2, streams: 2, segmentSize: 4 << 20 });
process.stdout.write(JSON.stringify({ status: r.status, skipped: r.totals.skipped, files: r.files.map((f) => [f.did.name, f.status, f.verified.join('+')]) }));
process.exit(r.status === 'AVAILABLE' ? 0 : 1);
`,
    );
    const dest = join(out.dir, 'shared');
    const run = async () => {
      const child = spawn(process.execPath, [script, url, w.token, dest], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const [code] = await once(child, 'exit');
      return { code, stdout, stderr };
    };
    const [one, two] = await Promise.all([run(), run()]);
    expect([one.code, two.code], one.stderr + two.stderr).toEqual([0, 0]);
    for (const f of files) expect(md5(readFileSync(join(dest, 'user.jdoe', f.name))), f.name).toBe(md5(f.content));
    expect(listFiles(dest)).toEqual(files.map((f) => `user.jdoe/${f.name}`));
    // Each file was downloaded once: the other run waited for its lock, then found it verified.
    const results = [JSON.parse(one.stdout), JSON.parse(two.stdout)] as { skipped: number }[];
    expect(results[0]!.skipped + results[1]!.skipped).toBe(files.length);
    expect(plain.requests.filter((q) => q.method === 'GET').reduce((n, q) => n + q.bytes, 0)).toBe(files.length * 16 * MiB);
    await w.rucio.close();
  }, 120_000);
});
