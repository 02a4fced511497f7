/**
 * Random access (`lake.files.open`) against a plain HTTP storage server on loopback
 * (test/support/plain-storage.ts, node:http, no SDK code) behind the Rucio emulator, through both
 * bulk HTTP clients, and against the emulated Data Lake (`createDataLakeEmulator`): random reads
 * equal the file's bytes at every offset, what each read costs in bytes and requests (block cache,
 * read-ahead, coalescing, bounded parallelism), abort, replica fallback mid-read, a server that
 * ignores Range, no token to a URL source, and whole-read verification catching a corrupt replica.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ChecksumMismatchError, RangeNotSupportedError, createDataLake, fetchStorageHttp, type StorageHttp } from '../../src/index.js';
import { nodeStorageHttp } from '../../src/node/storage-http.js';
import { createDataLakeEmulator, createRucioEmulator, type DataLakeEmulator } from '../../src/testing.js';
import { startPlainStorage, type PlainStorage } from '../support/plain-storage.js';
import { noise, trafficFetch, type Tamper } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
let plain: PlainStorage;
beforeAll(async () => void (plain = await startPlainStorage()));
afterAll(async () => plain?.close());
beforeEach(() => {
  plain.files.clear();
  plain.requests.length = 0;
  plain.plan = () => undefined;
});

const gets = () => plain.requests.filter((r) => r.method === 'GET');

/** A lake over the plain server: RSEs PLAIN (`/rucio/`) and PLAIN2 (`/rucio2/`). */
async function world(files: { name: string; content: Uint8Array }[], o: { rses?: string[]; http?: StorageHttp; tamper?: (url: string) => Tamper | undefined } = {}) {
  const rucio = createRucioEmulator();
  rucio.addAccount('jdoe', { admin: true });
  rucio.addScope('user.jdoe', 'jdoe');
  for (const [rse, prefix] of [
    ['PLAIN', '/rucio/'],
    ['PLAIN2', '/rucio2/'],
  ] as const) {
    rucio.addRse(rse, { lfn2pfnAlgorithm: 'identity', protocols: [{ scheme: 'http', hostname: '127.0.0.1', port: plain.port, prefix }] });
  }
  const rses = o.rses ?? ['PLAIN'];
  await rucio.seedDataset({ scope: 'user.jdoe', name: 'ds', rses, files });
  for (const f of files) for (const rse of rses) plain.files.set(`/${rse === 'PLAIN' ? 'rucio' : 'rucio2'}/user/jdoe/${f.name}`, f.content);
  const traffic = trafficFetch();
  if (o.tamper) traffic.tamper = (req) => o.tamper?.(req.url);
  const staging = o.tamper ? { fetch: traffic.fetch } : { storageHttp: o.http ?? nodeStorageHttp() };
  const lake = createDataLake({ rucio: { baseUrl: rucio.baseUrl, account: 'jdoe', token: rucio.issueToken('jdoe'), fetch: rucio.fetch, retry: { limit: 0 } }, auth: { storageToken: 'storage-token' }, staging });
  return { lake, rucio, traffic };
}

const clients: [string, () => StorageHttp][] = [
  ['fetch', () => fetchStorageHttp()],
  ['node:http', () => nodeStorageHttp()],
];

describe.each(clients)('random reads (%s)', (_label, http) => {
  it('any read(offset, length) and any slice of a slice equals the file bytes (property)', async () => {
    const content = noise(3 * MiB + 12_345, 41);
    const { lake } = await world([{ name: 'f.bin', content }], { http: http() });
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 64 * KiB, cacheSize: 512 * KiB, readAhead: 256 * KiB });
    expect(file.size).toBe(content.byteLength);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: content.byteLength + 10 }), fc.nat({ max: 700 * KiB }), fc.nat({ max: 100 }), fc.nat({ max: 100 }), async (offset, length, a, b) => {
        const got = await file.read(offset, length);
        expect(Buffer.from(got).equals(Buffer.from(content.subarray(offset, offset + length)))).toBe(true);
        const s = file.slice(offset, offset + length);
        const inner = await s.slice(a, a + b).arrayBuffer();
        const want = content.subarray(offset, offset + length).subarray(a, a + b);
        expect(Buffer.from(inner).equals(Buffer.from(want))).toBe(true);
      }),
      { numRuns: 60 },
    );
    expect(file.stats.cacheBytes).toBeLessThanOrEqual(512 * KiB);
    // Verified only if the reads happened to receive every block (then the blocks' adler32 matched).
    if (file.verified) expect(file.verified.verified).toEqual(['size', 'adler32']);
    // The DID's storage (loopback) got the storage token.
    expect(gets().every((r) => r.authorization === 'Bearer storage-token')).toBe(true);
  });

  it('a small read costs one block; a cached block costs no request', async () => {
    const content = noise(8 * MiB, 42);
    const { lake } = await world([{ name: 'f.bin', content }], { http: http() });
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 256 * KiB });
    const got = await file.read(5 * MiB + 100, 1000);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(5 * MiB + 100, 5 * MiB + 1100)))).toBe(true);
    expect(file.stats).toMatchObject({ requests: 1, bytesTransferred: 256 * KiB });
    expect(gets().map((r) => r.range)).toEqual([`bytes=${5 * MiB}-${5 * MiB + 256 * KiB - 1}`]);
    await file.read(5 * MiB + 2000, 1000);
    expect(file.stats.requests).toBe(1);
    expect(file.stats.cacheHits).toBe(1);
  });
});

describe('cache, read-ahead, coalescing, parallelism', () => {
  it('sequential reads are coalesced into few growing requests, read ahead no further than readAhead', async () => {
    const content = noise(6 * MiB, 43);
    const { lake } = await world([{ name: 'f.bin', content }]);
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 64 * KiB, readAhead: MiB, cacheSize: 4 * MiB });
    const parts: Uint8Array[] = [];
    for (let at = 0; at < 3 * MiB; at += 16 * KiB) parts.push(await file.read(at, 16 * KiB));
    expect(Buffer.concat(parts).equals(Buffer.from(content.subarray(0, 3 * MiB)))).toBe(true);
    // 192 reads of 16 KiB, 48 blocks: far fewer requests than blocks, thanks to read-ahead runs.
    expect(file.stats.requests).toBeLessThan(16);
    // Never more than the read-ahead window beyond what was read.
    await new Promise((r) => setTimeout(r, 50));
    expect(file.stats.bytesTransferred).toBeLessThanOrEqual(3 * MiB + MiB);
    expect(file.stats.cacheBytes).toBeLessThanOrEqual(4 * MiB);
    file.close();
    await expect(file.read(0, 1)).rejects.toBeInstanceOf(AbortError);
  });

  it('one large read becomes coalesced requests of at most maxRequestBytes, at most `concurrency` at once', async () => {
    const content = noise(8 * MiB, 44);
    const { lake } = await world([{ name: 'f.bin', content }]);
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 64 * KiB, maxRequestBytes: MiB, concurrency: 2, readAhead: 0 });
    const got = await file.read(0, 8 * MiB);
    expect(Buffer.from(got).equals(Buffer.from(content))).toBe(true);
    expect(gets()).toHaveLength(8);
    expect(gets().every((r) => r.bytes === MiB)).toBe(true);
    expect(plain.maxConcurrentGets).toBeLessThanOrEqual(2);
  });

  it('overlapping reads in flight share one request; the cache stays within cacheSize under random reads', async () => {
    const content = noise(16 * MiB, 45);
    const { lake } = await world([{ name: 'f.bin', content }]);
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 128 * KiB, cacheSize: MiB, readAhead: 0 });
    const [a, b] = await Promise.all([file.read(1000, 100_000), file.read(50_000, 20_000)]);
    expect(Buffer.from(a).equals(Buffer.from(content.subarray(1000, 101_000)))).toBe(true);
    expect(Buffer.from(b).equals(Buffer.from(content.subarray(50_000, 70_000)))).toBe(true);
    expect(gets()).toHaveLength(1);
    let max = 0;
    for (let i = 0; i < 60; i++) {
      const at = (i * 7_919_111) % (16 * MiB);
      await file.read(at, 200 * KiB);
      max = Math.max(max, file.stats.cacheBytes);
    }
    expect(max).toBeLessThanOrEqual(MiB);
    expect(max).toBeGreaterThan(0);
  });

  it('reads issued together over adjacent blocks are coalesced into one request', async () => {
    const content = noise(4 * MiB, 58);
    const { lake } = await world([{ name: 'rows.bin', content }]);
    const file = await lake.files.open('user.jdoe:rows.bin', { blockSize: 64 * KiB, readAhead: 0 });
    // 16 "rows" of 1000 bytes, one per 64 KiB block (a cutout's rows): one GET for all 16 blocks.
    const rows = await Promise.all(Array.from({ length: 16 }, (_, r) => file.read(MiB + r * 64 * KiB + 100, 1000)));
    rows.forEach((row, r) => expect(Buffer.from(row).equals(Buffer.from(content.subarray(MiB + r * 64 * KiB + 100, MiB + r * 64 * KiB + 1100)))).toBe(true));
    expect(gets().map((g) => g.range)).toEqual([`bytes=${MiB}-${MiB + 16 * 64 * KiB - 1}`]);
  });
});

describe('abort', () => {
  // The server stays silent until the client goes away, and the stall watchdog is set to a day: the
  // abort is the only thing that can settle the read (an abort not wired through times the test out).
  const NEVER = 86_400_000;

  it.each(clients)('a read whose body stalls rejects on abort (nothing else could end it) and closes the connection (%s)', async (_l, http) => {
    const content = noise(4 * MiB, 46);
    const { lake } = await world([{ name: 'f.bin', content }], { http: http() });
    const file = await lake.files.open('user.jdoe:f.bin', { readAhead: 0, stallTimeout: NEVER });
    plain.plan = (r) => (r.method === 'GET' ? { holdAfter: 100 * KiB } : undefined);
    const ac = new AbortController();
    const read = file.read(0, 2 * MiB, { signal: ac.signal });
    read.catch(() => {});
    await plain.held();
    const closed = plain.closed();
    ac.abort();
    await expect(read).rejects.toBeInstanceOf(AbortError);
    expect((await closed).closedEarly).toBe(true);
    // The file stays usable.
    plain.plan = () => undefined;
    const again = await file.read(0, 10);
    expect(Buffer.from(again).equals(Buffer.from(content.subarray(0, 10)))).toBe(true);
  });

  it('a whole-file stream() cancels its request on abort (the stalled server never answers)', async () => {
    const { lake } = await world([{ name: 'f.bin', content: noise(4 * MiB, 47) }]);
    const file = await lake.files.open('user.jdoe:f.bin', { stallTimeout: NEVER });
    plain.plan = (r) => (r.method === 'GET' ? { holdAfter: 300 * KiB } : undefined);
    const ac = new AbortController();
    const held = plain.held();
    const reader = file.stream({ signal: ac.signal }).getReader();
    // Take every byte the server sent before going silent: the next read can then only wait.
    for (let got = 0; got < 300 * KiB; ) got += (await reader.read()).value?.byteLength ?? Infinity;
    await held;
    const closed = plain.closed();
    const pending = reader.read();
    pending.catch(() => {});
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect((await closed).closedEarly).toBe(true);
  });
});

describe('replica fallback', () => {
  it('a replica that breaks off mid-read is replaced by the next one, from where its bytes stopped', async () => {
    const content = noise(4 * MiB, 48);
    const { lake, traffic } = await world([{ name: 'f.bin', content }], { rses: ['PLAIN', 'PLAIN2'], tamper: (url) => (url.includes('/rucio/') ? { cutAfter: 300 * KiB } : undefined) });
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 128 * KiB, readAhead: 0, preferRses: ['PLAIN'] });
    const got = await file.read(0, 2 * MiB);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(0, 2 * MiB)))).toBe(true);
    const seen = traffic.seen.filter((r) => r.method === 'GET');
    expect(seen[0]?.url).toContain('/rucio/');
    expect(seen[0]?.range).toBe(`bytes=0-${2 * MiB - 1}`);
    // The two whole blocks of the first replica were kept; the second replica serves the rest.
    expect(seen[1]?.url).toContain('/rucio2/');
    expect(seen[1]?.range).toBe(`bytes=${256 * KiB}-${2 * MiB - 1}`);
  });

  it('a whole stream() resumes on the other replica mid-file and still verifies', async () => {
    const content = noise(3 * MiB, 49);
    const { lake, traffic } = await world([{ name: 'f.bin', content }], { rses: ['PLAIN', 'PLAIN2'], tamper: (url) => (url.includes('/rucio/') ? { cutAfter: MiB + 5 } : undefined) });
    const file = await lake.files.open('user.jdoe:f.bin', { preferRses: ['PLAIN'] });
    const got = new Uint8Array(await new Response(file.stream()).arrayBuffer());
    expect(Buffer.from(got).equals(Buffer.from(content))).toBe(true);
    expect(file.verified).toMatchObject({ verified: ['size', 'adler32'] });
    expect(traffic.seen.filter((r) => r.method === 'GET').map((r) => r.range)).toEqual([null, `bytes=${MiB + 5}-`]);
  });
});

describe('a server that ignores Range', () => {
  it('far into a large file: the 200 body is cancelled at once and another replica serves the read', async () => {
    const content = noise(48 * MiB, 50);
    const { lake } = await world([{ name: 'big.bin', content }], { rses: ['PLAIN', 'PLAIN2'], tamper: (url) => (url.includes('/rucio/') ? { dropRange: true } : undefined) });
    const file = await lake.files.open('user.jdoe:big.bin', { preferRses: ['PLAIN'], readAhead: 0 });
    const got = await file.read(40 * MiB, 1000);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(40 * MiB, 40 * MiB + 1000)))).toBe(true);
    const ignored = gets().find((r) => r.path.startsWith('/rucio/'));
    expect(ignored?.range).toBeNull();
    // Cancelled at once: nowhere near the 48 MiB the server was ready to send.
    await new Promise((r) => setTimeout(r, 100));
    expect(ignored?.bytes).toBeLessThan(8 * MiB);
    expect(file.sources.find((s) => s.pfn.includes('/rucio/'))?.bad).toBeInstanceOf(RangeNotSupportedError);
    expect(file.stats.bytesTransferred).toBeLessThan(8 * MiB);
  });

  it('with no other replica the read fails with RangeNotSupportedError, having read almost nothing', async () => {
    const content = noise(48 * MiB, 51);
    const { lake } = await world([{ name: 'big.bin', content }], { tamper: () => ({ dropRange: true }) });
    const file = await lake.files.open('user.jdoe:big.bin', { readAhead: 0 });
    await expect(file.read(30 * MiB, 10)).rejects.toBeInstanceOf(RangeNotSupportedError);
    expect(file.stats.bytesTransferred).toBeLessThan(8 * MiB);
  });

  it('near the start: the prefix is read, the rest cancelled, and the bytes are right', async () => {
    const content = noise(48 * MiB, 52);
    const { lake } = await world([{ name: 'big.bin', content }], { tamper: () => ({ dropRange: true }) });
    const file = await lake.files.open('user.jdoe:big.bin', { readAhead: 0, blockSize: 256 * KiB });
    const got = await file.read(300 * KiB, 100);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(300 * KiB, 300 * KiB + 100)))).toBe(true);
    expect(file.stats.bytesTransferred).toBeLessThan(4 * MiB);
    // The block before it came with the prefix and is cached.
    await file.read(0, 100);
    expect(file.stats.requests).toBe(1);
  });
});

describe('tokens', () => {
  it('a URL source never gets the storage token', async () => {
    const content = noise(2 * MiB, 53);
    const { lake } = await world([]);
    plain.files.set('/public/x.bin', content);
    const file = await lake.files.open(`${plain.origin}/public/x.bin`);
    expect(file.size).toBe(content.byteLength);
    expect(file.adler32).toBeNull();
    const got = await file.read(MiB, 10);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(MiB, MiB + 10)))).toBe(true);
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(content))).toBe(true);
    expect(file.verified).toMatchObject({ verified: ['size'] });
    expect(plain.requests.length).toBeGreaterThanOrEqual(3);
    expect(plain.requests.every((r) => r.authorization === null)).toBe(true);
  });
});

describe('integrity', () => {
  it('a whole read catches a corrupt replica, reads the good one, and names the corrupt one', async () => {
    const content = noise(2 * MiB + 3, 54);
    const { lake } = await world([{ name: 'f.bin', content }], { rses: ['PLAIN', 'PLAIN2'] });
    plain.plan = (r) => (r.method === 'GET' && r.path.startsWith('/rucio/') ? { corrupt: [MiB + 7] } : undefined);
    const file = await lake.files.open('user.jdoe:f.bin', { preferRses: ['PLAIN'] });
    // A ranged read of the corrupt byte cannot be checked: it returns what storage sent.
    const partial = await file.read(MiB, 16);
    expect(partial[7]).toBe((content[MiB + 7] as number) ^ 0xff);
    const whole = new Uint8Array(await file.arrayBuffer());
    expect(Buffer.from(whole).equals(Buffer.from(content))).toBe(true);
    expect(file.corruptReplicas).toMatchObject([{ rse: 'PLAIN', check: 'adler32' }]);
    expect(file.corruptReplicas[0]?.error).toBeInstanceOf(ChecksumMismatchError);
    expect(file.verified).toMatchObject({ verified: ['size', 'adler32'] });
    expect(file.verified?.source).toContain('/rucio2/');
    // The corrupt replica is not used again, and its cached blocks were dropped.
    const again = await file.read(MiB, 16);
    expect(again[7]).toBe(content[MiB + 7]);
  });

  it('range reads are unverified until they have received every block; then the combined adler32 is checked', async () => {
    const content = noise(2 * MiB + 99, 59);
    const { lake } = await world([{ name: 'f.bin', content }]);
    const file = await lake.files.open('user.jdoe:f.bin', { blockSize: 256 * KiB, cacheSize: 512 * KiB, readAhead: 0 });
    // Backwards, in pieces, through a cache too small to hold the file.
    for (let at = content.byteLength; at > 0; at -= 300 * KiB) {
      const from = Math.max(0, at - 300 * KiB);
      // Unverified while a block is missing (a block is fetched whole: the first one comes with the piece before last).
      if (from > 256 * KiB + 300 * KiB) expect(file.verified).toBeUndefined();
      expect(Buffer.from(await file.read(from, at - from)).equals(Buffer.from(content.subarray(from, at)))).toBe(true);
    }
    expect(file.verified).toMatchObject({ verified: ['size', 'adler32'] });
    // Every block came once (one, evicted from the small cache, came twice).
    expect(file.stats.bytesTransferred).toBeGreaterThanOrEqual(content.byteLength);
    expect(file.stats.bytesTransferred).toBeLessThanOrEqual(content.byteLength + 256 * KiB);
  });

  it('range reads covering a corrupt replica end with a mismatch that retires it; the next read comes from the good one', async () => {
    const content = noise(MiB + 5, 60);
    const { lake } = await world([{ name: 'f.bin', content }], { rses: ['PLAIN', 'PLAIN2'] });
    plain.plan = (r) => (r.method === 'GET' && r.path.startsWith('/rucio/') ? { corrupt: [700_000] } : undefined);
    const file = await lake.files.open('user.jdoe:f.bin', { preferRses: ['PLAIN'], blockSize: 128 * KiB, readAhead: 0 });
    await file.read(512 * KiB, MiB);
    expect(file.rangeMismatch).toBeUndefined();
    await file.read(0, 512 * KiB);
    expect(file.verified).toBeUndefined();
    expect(file.rangeMismatch).toBeInstanceOf(ChecksumMismatchError);
    expect(file.corruptReplicas).toMatchObject([{ rse: 'PLAIN', check: 'adler32' }]);
    const again = await file.read(700_000, 1);
    expect(again[0]).toBe(content[700_000]);
    expect(gets().at(-1)?.path.startsWith('/rucio2/')).toBe(true);
  });

  it('verify() on the only replica, corrupt: ChecksumMismatchError; text()/stream() of it fail too', async () => {
    const content = noise(MiB, 55);
    const { lake } = await world([{ name: 'f.bin', content }]);
    plain.plan = (r) => (r.method === 'GET' ? { corrupt: [12345] } : undefined);
    const file = await lake.files.open('user.jdoe:f.bin');
    await expect(file.verify()).rejects.toMatchObject({ check: 'adler32' });
    const again = await lake.files.open('user.jdoe:f.bin');
    await expect(new Response(again.stream()).arrayBuffer()).rejects.toBeInstanceOf(ChecksumMismatchError);
    plain.plan = () => undefined;
    const good = await lake.files.open('user.jdoe:f.bin');
    expect(await good.verify()).toMatchObject({ verified: ['size', 'adler32'] });
  });
});

describe('emulated Data Lake', () => {
  let emu: DataLakeEmulator;
  beforeAll(async () => void (emu = await createDataLakeEmulator()));
  afterAll(async () => emu?.close());

  it('random reads equal the bytes at every offset (property); the whole read verifies; the storage token goes only to storage', async () => {
    const token = emu.addUser({ account: 'jdoe', admin: true });
    const content = noise(2 * MiB + 777, 56);
    await emu.seedDataset({ scope: 'user.jdoe', name: 'ds', rses: ['SITE_A', 'SITE_B'], files: [{ name: 'f.bin', content }] });
    const seen: { url: string; auth: string | null }[] = [];
    const fetchSpy: typeof fetch = (input, init) => {
      const r = new Request(input, init);
      seen.push({ url: r.url, auth: r.headers.get('authorization') });
      return emu.fetch(input, init);
    };
    const storageToken = await emu.mintStorageToken('storage.read:/');
    const lake = createDataLake({ rucio: { baseUrl: emu.url, token, fetch: emu.fetch }, auth: { storageToken }, fetch: fetchSpy });
    const file = await lake.files.open({ scope: 'user.jdoe', name: 'f.bin' }, { blockSize: 32 * KiB, cacheSize: 256 * KiB });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: content.byteLength }), fc.nat({ max: 300 * KiB }), async (offset, length) => {
        const got = await file.slice(offset, offset + length).arrayBuffer();
        expect(Buffer.from(got).equals(Buffer.from(content.subarray(offset, offset + length)))).toBe(true);
      }),
      { numRuns: 50 },
    );
    expect(file.stats.cacheBytes).toBeLessThanOrEqual(256 * KiB);
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.from(content))).toBe(true);
    expect(file.verified?.verified).toEqual(['size', 'adler32']);
    const storage = seen.filter((s) => s.url.includes('/storage/'));
    expect(storage.length).toBeGreaterThan(1);
    expect(storage.every((s) => s.auth === `Bearer ${storageToken}`)).toBe(true);
  });

  it('an RSE expression limits the replicas', async () => {
    const token = emu.addUser({ account: 'jane', admin: true });
    await emu.seedDataset({ scope: 'user.jane', name: 'ds', rses: ['SITE_A', 'SITE_B'], files: [{ name: 'g.bin', content: noise(1000, 57) }] });
    const lake = createDataLake({ rucio: { baseUrl: emu.url, token, fetch: emu.fetch }, auth: { storageToken: await emu.mintStorageToken() }, fetch: emu.fetch });
    const file = await lake.files.open('user.jane:g.bin', { rse_expression: 'SITE_B' });
    expect(file.sources.map((s) => s.rse)).toEqual(['SITE_B']);
    expect(await file.text()).toHaveLength(new TextDecoder().decode(noise(1000, 57)).length);
  });
});
