/**
 * Random access (`lake.files.open`) against real storage: two XRootD 5.8.1 storage elements (two
 * RSEs, so two replicas of each file) behind the Rucio emulator, with WLCG tokens minted by the
 * SEs' issuers (test/support/storage-element.ts; see xrootd.test.ts for the token swap: each SE
 * trusts only its own test issuer, so the test `fetch` presents that SE's token with the scope of
 * the one the SDK sent, and records whether the SDK sent one at all).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, ChecksumMismatchError, ForbiddenError, createDataLake } from '../../src/index.js';
import { createRucioEmulator } from '../../src/testing.js';
import { startStorageElement, type StorageElement } from '../support/storage-element.js';
import { noise, storagePath, trafficFetch, type Tamper } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const FULL = 'storage.read:/ storage.create:/ storage.modify:/';
let se1: StorageElement;
let se2: StorageElement;
beforeAll(async () => {
  [se1, se2] = await Promise.all([startStorageElement(), startStorageElement()]);
}, 600_000);
afterAll(async () => {
  await Promise.all([se1?.stop(), se2?.stop()]);
});
beforeEach(() => {
  se1.clear();
  se2.clear();
});

const origin = (se: StorageElement) => new URL(se.url).origin;

interface Sent {
  url: string;
  method: string;
  range: string | null;
  /** The SDK sent a bearer token. */
  auth: boolean;
}

async function world(o: { scope?: string; storageToken?: false; tamper?: (url: string) => Tamper | undefined } = {}) {
  const rucio = createRucioEmulator();
  rucio.addAccount('jdoe', { email: 'jdoe@example.org', admin: true });
  rucio.addScope('user.jdoe', 'jdoe');
  const ses = { XRD1: se1, XRD2: se2 };
  for (const [rse, se] of Object.entries(ses)) rucio.addRse(rse, { protocols: [{ scheme: 'davs', hostname: 'localhost', port: se.port, prefix: '/rucio/' }] });
  const scope = o.scope ?? FULL;
  const tokens: Record<string, string> = { [origin(se1)]: await se1.mintToken({ scope }), [origin(se2)]: await se2.mintToken({ scope }) };
  const traffic = trafficFetch();
  traffic.tamper = (req) => o.tamper?.(req.url);
  const sent: Sent[] = [];
  // Swap the SDK's token for the SE's own (same scope), only when the SDK sent one.
  const swap: typeof fetch = async (input, init) => {
    const req = new Request(input, init);
    const headers = new Headers(req.headers);
    const auth = headers.has('authorization');
    sent.push({ url: req.url, method: req.method, range: headers.get('range'), auth });
    const own = tokens[new URL(req.url).origin];
    if (auth && own) headers.set('authorization', `Bearer ${own}`);
    return traffic.fetch(req.url, { method: req.method, headers, signal: init?.signal ?? null, redirect: 'manual' });
  };
  const lake = createDataLake({
    rucio: { baseUrl: rucio.baseUrl, account: 'jdoe', token: rucio.issueToken('jdoe'), fetch: rucio.fetch, retry: { limit: 0 } },
    auth: { storageToken: o.storageToken === false ? false : (tokens[origin(se1)] as string) },
    staging: { fetch: swap },
  });
  const seed = async (name: string, content: Uint8Array, rses: ('XRD1' | 'XRD2')[] = ['XRD1', 'XRD2'], onStorage?: Partial<Record<'XRD1' | 'XRD2', Uint8Array>>) => {
    await rucio.seedDataset({ scope: 'user.jdoe', name: `ds-${name}`, rses, files: [{ name, content }] });
    for (const rse of rses) ses[rse].seed(await storagePath('/rucio', 'user.jdoe', name), onStorage?.[rse] ?? content);
  };
  return { lake, sent, seed };
}

describe('random access on XRootD', () => {
  it('Range reads at any offset equal the file bytes (property), with the token, through a bounded cache', async () => {
    const w = await world();
    const content = noise(3 * MiB + 1234, 61);
    await w.seed('r.bin', content);
    const file = await w.lake.files.open('user.jdoe:r.bin', { blockSize: 64 * KiB, cacheSize: 512 * KiB, readAhead: 256 * KiB });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: content.byteLength }), fc.nat({ max: 400 * KiB }), async (offset, length) => {
        const got = await file.read(offset, length);
        expect(Buffer.from(got).equals(Buffer.from(content.subarray(offset, offset + length)))).toBe(true);
      }),
      { numRuns: 30 },
    );
    expect(file.stats.cacheBytes).toBeLessThanOrEqual(512 * KiB);
    const gets = w.sent.filter((s) => s.method === 'GET');
    expect(gets.length).toBeGreaterThan(0);
    // Every GET was a Range request (XRootD answered 206, else the SDK would have refused the bytes) and carried the token.
    expect(gets.every((g) => g.range !== null && g.auth)).toBe(true);
    expect(file.stats.bytesTransferred).toBeLessThan(content.byteLength * 4);
  });

  it('a small read of a large file transfers one block', async () => {
    const w = await world();
    const content = noise(16 * MiB, 62);
    await w.seed('big.bin', content, ['XRD1']);
    const file = await w.lake.files.open('user.jdoe:big.bin', { blockSize: 128 * KiB });
    const got = await file.read(9 * MiB + 5, 100);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(9 * MiB + 5, 9 * MiB + 105)))).toBe(true);
    expect(file.stats).toMatchObject({ requests: 1, bytesTransferred: 128 * KiB });
  });

  it('a token without storage.read is refused (ForbiddenError); a URL source gets no token', async () => {
    const w = await world({ scope: 'storage.create:/' });
    await w.seed('t.bin', noise(1000, 63), ['XRD1']);
    const file = await w.lake.files.open('user.jdoe:t.bin');
    await expect(file.read(0, 10)).rejects.toBeInstanceOf(ForbiddenError);
    const url = `${se1.url}rucio/${(await storagePath('', 'user.jdoe', 't.bin')).replace(/^\//, '')}`;
    // The DID's reads went to this very URL with the token.
    expect(w.sent.filter((s) => s.url === url).every((s) => s.auth)).toBe(true);
    const before = w.sent.length;
    const byUrl = await w.lake.files.open({ url, bytes: 1000 });
    await expect(byUrl.read(0, 10)).rejects.toBeInstanceOf(ForbiddenError);
    const toUrl = w.sent.slice(before).filter((s) => s.url === url);
    expect(toUrl.length).toBeGreaterThan(0);
    expect(toUrl.every((s) => !s.auth)).toBe(true);
  });

  it('falls back to the other replica in the middle of a read', async () => {
    const content = noise(4 * MiB, 64);
    const w = await world({ tamper: (url) => (url.startsWith(origin(se1)) ? { cutAfter: 700 * KiB } : undefined) });
    await w.seed('f.bin', content);
    const file = await w.lake.files.open('user.jdoe:f.bin', { preferRses: ['XRD1'], blockSize: 256 * KiB, readAhead: 0 });
    const got = await file.read(100, 3 * MiB);
    expect(Buffer.from(got).equals(Buffer.from(content.subarray(100, 100 + 3 * MiB)))).toBe(true);
    const gets = w.sent.filter((s) => s.method === 'GET');
    expect(gets[0]?.url.startsWith(origin(se1))).toBe(true);
    expect(gets[1]?.url.startsWith(origin(se2))).toBe(true);
    // Two whole blocks came from the first replica before it broke off; the rest of the read (13 blocks) from the second.
    expect(gets[0]?.range).toBe(`bytes=0-${13 * 256 * KiB - 1}`);
    expect(gets[1]?.range).toBe(`bytes=${512 * KiB}-${13 * 256 * KiB - 1}`);
  });

  it('a whole read catches the corrupt replica (same size, other bytes) and returns the good one, verified', async () => {
    const content = noise(2 * MiB, 65);
    const bad = content.slice();
    bad[MiB + 3]! ^= 0xff;
    const w = await world();
    await w.seed('c.bin', content, ['XRD1', 'XRD2'], { XRD1: bad });
    const file = await w.lake.files.open('user.jdoe:c.bin', { preferRses: ['XRD1'] });
    const whole = new Uint8Array(await file.arrayBuffer());
    expect(Buffer.from(whole).equals(Buffer.from(content))).toBe(true);
    expect(file.corruptReplicas).toMatchObject([{ rse: 'XRD1', check: 'adler32' }]);
    expect(file.verified).toMatchObject({ verified: ['size', 'adler32'] });
    const only = await w.lake.files.open('user.jdoe:c.bin', { rse_expression: 'XRD1' });
    await expect(only.verify()).rejects.toBeInstanceOf(ChecksumMismatchError);
  });

  it('an abort while XRootD streams a read rejects (the body is stalled for good, the watchdog set to a day: only the abort can end it)', async () => {
    let paused!: () => void;
    const atPause = new Promise<void>((r) => (paused = r));
    const w = await world({ tamper: (url) => (url.startsWith(origin(se1)) ? { pauseAfter: 200 * KiB, onPause: paused } : undefined) });
    await w.seed('a.bin', noise(4 * MiB, 66), ['XRD1']);
    const file = await w.lake.files.open('user.jdoe:a.bin', { readAhead: 0, stallTimeout: 86_400_000 });
    const ac = new AbortController();
    const read = file.read(0, 3 * MiB, { signal: ac.signal });
    read.catch(() => {});
    await atPause;
    ac.abort();
    await expect(read).rejects.toBeInstanceOf(AbortError);
  });
});
