/**
 * Staging against real storage: two XRootD 5.8.1 storage elements (two RSEs, so two replicas of each
 * file) behind the Rucio emulator, with WLCG tokens minted by the SEs' issuers.
 *
 * Each SE trusts only its own test issuer; in the Data Lake one IAM issuer is trusted by every SE.
 * The test `fetch` stands in for that: it presents the token of the SE's own issuer with the same
 * scope as the token the SDK holds (which is SE 1's).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/core/errors.js';
import { ChecksumMismatchError, UploadError, checksumOf, createDataLake, type StageEvent, type UploadStep } from '../../src/index.js';
import { fileSink } from '../../src/node.js';
import { createRucioEmulator, type RucioEmulator } from '../../src/testing.js';
import { startStorageElement, type StorageElement } from '../support/storage-element.js';
import { listFiles, noise, storagePath, tempDir, trafficFetch, type Tamper, type TrafficFetch } from './helpers.js';

const FULL = 'storage.read:/ storage.create:/ storage.modify:/';
let se1: StorageElement;
let se2: StorageElement;
// The first run on a machine builds the XRootD image (debootstrap, ~40 s).
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

interface World {
  rucio: RucioEmulator;
  rucioToken: string;
  /** A lake whose storage token has `scope` (default full); `tamper` adds to the token swap. */
  lake(o?: { scope?: string; tamper?: (url: string, index: number) => Tamper | undefined }): Promise<{ lake: ReturnType<typeof createDataLake>; traffic: TrafficFetch; tokens: string[] }>;
  /** Seed a dataset in the catalogue and its bytes on the SEs of `rses`. */
  seed(name: string, files: { name: string; content: Uint8Array }[], rses?: ('XRD1' | 'XRD2')[]): Promise<void>;
  replicaState(name: string, rse: string): string | undefined;
}

function world(): World {
  const rucio = createRucioEmulator();
  rucio.addAccount('jdoe', { email: 'jdoe@example.org', admin: true });
  rucio.addScope('user.jdoe', 'jdoe');
  const ses = { XRD1: se1, XRD2: se2 };
  for (const [rse, se] of Object.entries(ses)) rucio.addRse(rse, { protocols: [{ scheme: 'davs', hostname: 'localhost', port: se.port, prefix: '/rucio/' }] });
  // An RSE whose path has a space and non-ASCII characters (MOVE's Destination must name it right).
  rucio.addRse('XRD1_UNICODE', { protocols: [{ scheme: 'davs', hostname: 'localhost', port: se1.port, prefix: '/rucio space/dätä/' }] });
  const rucioToken = rucio.issueToken('jdoe');
  return {
    rucio,
    rucioToken,
    async lake(o = {}) {
      const scope = o.scope ?? FULL;
      const tokens: Record<string, string> = { [origin(se1)]: await se1.mintToken({ scope }), [origin(se2)]: await se2.mintToken({ scope }) };
      const traffic = trafficFetch();
      traffic.tamper = (req, i) => ({ bearer: tokens[new URL(req.url).origin] as string, ...o.tamper?.(req.url, i) });
      const lake = createDataLake({
        rucio: { baseUrl: rucio.baseUrl, account: 'jdoe', token: rucioToken, fetch: rucio.fetch, retry: { limit: 0 } },
        auth: { storageToken: tokens[origin(se1)] as string },
        staging: { fetch: traffic.fetch },
      });
      return { lake, traffic, tokens: [...Object.values(tokens), rucioToken] };
    },
    async seed(name, files, rses = ['XRD1', 'XRD2']) {
      await rucio.seedDataset({ scope: 'user.jdoe', name, rses, files });
      for (const f of files) for (const rse of rses) ses[rse].seed(await storagePath('/rucio', 'user.jdoe', f.name), f.content);
    },
    replicaState: (name, rse) => [...rucio.fileReplicas()].find((r) => r.did.scope === 'user.jdoe' && r.did.name === name && r.rse === rse)?.state,
  };
}

const bytesOf = (path: string) => new Uint8Array(readFileSync(path));
const gets = (t: TrafficFetch, name: string) => t.seen.filter((r) => r.method === 'GET' && r.url.endsWith(`/${name}`));

describe('stage in by download from XRootD', () => {
  it('downloads a dataset with verified size, adler32 and md5 into the file sink, and skips it the second time', async () => {
    const w = world();
    const files = [
      { name: 'big.bin', content: noise(3 * 1024 * 1024 + 11, 1) },
      { name: 'small.txt', content: new TextEncoder().encode('SIMPLE  = T') },
      { name: 'empty.dat', content: new Uint8Array(0) },
    ];
    await w.seed('obs1', files);
    const out = tempDir('xrd-dl');
    try {
      const { lake, traffic, tokens } = await w.lake();
      const events: StageEvent[] = [];
      const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'download', sink: fileSink(out.dir), preferRses: ['XRD2'], onProgress: (e) => events.push(e) });
      expect(r.status).toBe('AVAILABLE');
      expect(r.totals).toMatchObject({ files: 3, ok: 3, failed: 0, skipped: 0, bytes: 3 * 1024 * 1024 + 11 + 11 });
      for (const f of files) {
        const m = r.files.find((x) => x.did?.name === f.name);
        expect(m).toMatchObject({ status: 'OK', verified: ['size', 'adler32'], attempts: 1, localPath: join(out.dir, 'user.jdoe', f.name) });
        expect(m?.sourcePfn).toContain(`localhost:${se2.port}/`); // the preferred RSE
        expect(Buffer.from(bytesOf(m?.localPath as string)).equals(Buffer.from(f.content))).toBe(true);
      }
      expect(listFiles(out.dir)).toEqual(['user.jdoe/big.bin', 'user.jdoe/empty.dat', 'user.jdoe/small.txt']); // no .part left
      expect(traffic.seen.every((q) => q.url.startsWith(origin(se2)))).toBe(true);
      expect(events[0]).toEqual({ type: 'plan', files: 3, bytes: r.totals.bytes });
      expect(events.filter((e) => e.type === 'file').map((e) => (e as { done: number }).done)).toEqual([1, 2, 3]);
      const last = events.filter((e) => e.type === 'bytes').pop();
      expect(last).toMatchObject({ overallTotal: r.totals.bytes });
      const shown = JSON.stringify([r, events]);
      for (const t of tokens) expect(shown).not.toContain(t);

      const again = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'download', sink: fileSink(out.dir) });
      expect(again.totals.skipped).toBe(3);
      expect(again.files.every((f) => f.attempts === 0 && f.verified.includes('adler32'))).toBe(true);
      expect(traffic.seen.filter((q) => q.method === 'GET')).toHaveLength(3); // nothing fetched again
    } finally {
      out.remove();
    }
  });

  it('resumes an interrupted transfer with Range from the byte where it stopped, and verifies the whole file', async () => {
    const w = world();
    const content = noise(3 * 1024 * 1024 + 5, 2);
    await w.seed('obs2', [{ name: 'cut.bin', content }], ['XRD1']);
    const cut = 1024 * 1024 + 7;
    const { lake, traffic } = await w.lake({ tamper: (url, i) => (i === 0 ? { cutAfter: cut } : undefined) });
    const r = await lake.staging.stage(['user.jdoe:cut.bin'], { mode: 'download' });
    expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 2, verified: ['size', 'adler32'] });
    expect(gets(traffic, 'cut.bin').map((q) => [q.range, q.status])).toEqual([
      [null, 200],
      [`bytes=${cut}-`, 206],
    ]);
    const blob = (r.files[0]?.location as { blob: Blob }).blob;
    expect(Buffer.from(await blob.arrayBuffer()).equals(Buffer.from(content))).toBe(true);
  });

  it('starts over on the same response when the server ignores the Range (200 instead of 206)', async () => {
    const w = world();
    const content = noise(2 * 1024 * 1024, 3);
    await w.seed('obs3', [{ name: 'norange.bin', content }], ['XRD1']);
    const { lake, traffic } = await w.lake({ tamper: (url, i) => (i === 0 ? { cutAfter: 500_000 } : { dropRange: true }) });
    const r = await lake.staging.stage(['user.jdoe:norange.bin'], { mode: 'download' });
    expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 2, verified: ['size', 'adler32'] });
    expect(gets(traffic, 'norange.bin').map((q) => q.status)).toEqual([200, 200]); // no third request
    const blob = (r.files[0]?.location as { blob: Blob }).blob;
    expect(Buffer.from(await blob.arrayBuffer()).equals(Buffer.from(content))).toBe(true);
  });

  it('an abort mid-body leaves only the private partial and its state (never the final name), and the next run resumes it', async () => {
    const w = world();
    const content = noise(3 * 1024 * 1024, 4);
    await w.seed('obs4', [{ name: 'abort.bin', content }], ['XRD1']);
    const out = tempDir('xrd-abort');
    try {
      const ac = new AbortController();
      const pause = 1_500_000;
      const first = await w.lake({ tamper: () => ({ pauseAfter: pause, onPause: () => ac.abort(new Error('user cancelled')) }) });
      await expect(first.lake.staging.stage(['user.jdoe:abort.bin'], { mode: 'download', sink: fileSink(out.dir), signal: ac.signal })).rejects.toMatchObject({ code: 'DLAAS_ABORTED' });
      // A private partial and its state; the lock is released.
      const kept = listFiles(out.dir);
      const part = kept.find((f) => f.endsWith('.dlaas-part'));
      expect(kept).toHaveLength(2);
      expect(part).toMatch(/^user\.jdoe\/\.abort\.bin\.[0-9a-f]{16}\.dlaas-part$/);
      expect(kept).toContain('user.jdoe/.abort.bin.dlaas-state');
      expect(bytesOf(join(out.dir, part as string)).byteLength).toBe(pause);

      const second = await w.lake();
      const r = await second.lake.staging.stage(['user.jdoe:abort.bin'], { mode: 'download', sink: fileSink(out.dir) });
      expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 1, verified: ['size', 'adler32'] });
      expect(gets(second.traffic, 'abort.bin').map((q) => q.range)).toEqual([`bytes=${pause}-`]);
      expect(listFiles(out.dir)).toEqual(['user.jdoe/abort.bin']);
      expect(Buffer.from(bytesOf(join(out.dir, 'user.jdoe/abort.bin'))).equals(Buffer.from(content))).toBe(true);
    } finally {
      out.remove();
    }
  });

  it('detects a corrupt replica (same size, other bytes) and recovers from the other replica', async () => {
    const w = world();
    const content = noise(1024 * 1024, 5);
    await w.seed('obs5', [{ name: 'flip.bin', content }]);
    const corrupt = content.slice();
    corrupt[123_456] = (corrupt[123_456] as number) ^ 0x01;
    se1.seed(await storagePath('/rucio', 'user.jdoe', 'flip.bin'), corrupt);
    const out = tempDir('xrd-flip');
    try {
      const { lake, traffic } = await w.lake();
      const r = await lake.staging.stage(['user.jdoe:flip.bin'], { mode: 'download', sink: fileSink(out.dir), preferRses: ['XRD1'] });
      expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 2, verified: ['size', 'adler32'] });
      expect(r.files[0]?.sourcePfn).toContain(`localhost:${se2.port}/`);
      // The corrupt replica is read once (not retried), then the good one.
      expect(gets(traffic, 'flip.bin').map((q) => new URL(q.url).origin)).toEqual([origin(se1), origin(se2)]);
      expect(Buffer.from(bytesOf(join(out.dir, 'user.jdoe/flip.bin'))).equals(Buffer.from(content))).toBe(true);
      expect(listFiles(out.dir)).toEqual(['user.jdoe/flip.bin']);
    } finally {
      out.remove();
    }
  });

  it('fails a file whose every replica is corrupt with a ChecksumMismatchError, publishing nothing', async () => {
    const w = world();
    const content = noise(200_000, 6);
    await w.seed('obs6', [{ name: 'bad.bin', content }]);
    const corrupt = content.map((b) => b ^ 0xff);
    for (const se of [se1, se2]) se.seed(await storagePath('/rucio', 'user.jdoe', 'bad.bin'), corrupt);
    const out = tempDir('xrd-bad');
    try {
      const { lake } = await w.lake();
      const r = await lake.staging.stage(['user.jdoe:bad.bin'], { mode: 'download', sink: fileSink(out.dir) });
      expect(r.status).toBe('NOT_AVAILABLE');
      expect(r.files[0]).toMatchObject({ status: 'FAILED', attempts: 2, verified: [] });
      expect(r.files[0]?.error).toBeInstanceOf(ChecksumMismatchError);
      expect(r.files[0]?.error).toMatchObject({ code: 'DLAAS_CHECKSUM_MISMATCH', check: 'adler32' });
      expect(listFiles(out.dir)).toEqual([]); // corrupt bytes are not kept, not even as .part
    } finally {
      out.remove();
    }
  });
});

describe('upload back into XRootD', () => {
  it('goes checksum → check → register (COPYING) → pfn → transfer → verify → rename → set-available → attach, with storage and catalogue checked at every step', async () => {
    const w = world();
    const { lake, traffic } = await w.lake();
    const data = noise(777_777, 8);
    const final = await storagePath('/rucio', 'user.jdoe', 'result.fits');
    const state = (p: string | undefined) => {
      const b = p === undefined ? undefined : se1.readBack(p);
      return b === undefined ? 'absent' : Buffer.from(b).equals(Buffer.from(data)) ? 'complete' : `${b.byteLength} bytes`;
    };
    // The temporary object has a private name: <final>.<8 hex>.rucio.upload.
    const temps = () => listFiles(se1.dataDir).map((f) => `/${f}`).filter((f) => f.startsWith(`${final}.`) && /\.[0-9a-f]{8}\.rucio\.upload$/.test(f));
    const seen: [UploadStep, string | undefined, string, string][] = [];
    const res = await lake.staging.upload([{ name: 'result.fits', data: new Blob([data as BlobPart]) }], {
      scope: 'user.jdoe',
      rse: 'XRD1',
      dataset: 'user.jdoe:results',
      rule: true,
      onProgress: (e) => {
        if (e.type === 'step') seen.push([e.step, w.replicaState('result.fits', 'XRD1'), state(temps()[0]), state(final)]);
        expect(temps().length).toBeLessThanOrEqual(1);
      },
    });
    // [step about to run, catalogue, temporary object, final object]
    expect(seen).toEqual([
      ['checksum', undefined, 'absent', 'absent'],
      ['check', undefined, 'absent', 'absent'],
      ['register', undefined, 'absent', 'absent'],
      ['pfn', 'COPYING', 'absent', 'absent'],
      ['transfer', 'COPYING', 'absent', 'absent'],
      ['verify', 'COPYING', 'complete', 'absent'],
      ['rename', 'COPYING', 'complete', 'absent'],
      ['set-available', 'COPYING', 'absent', 'complete'],
      ['attach', 'AVAILABLE', 'absent', 'complete'],
    ]);
    expect(res.ok).toBe(true);
    expect(res.files[0]).toMatchObject({ status: 'OK', bytes: data.length, pfn: `davs://localhost:${se1.port}${final}` });
    expect(res.ruleIds).toHaveLength(1);
    expect(w.replicaState('result.fits', 'XRD1')).toBe('AVAILABLE');
    expect(listFiles(se1.dataDir)).toEqual([final.slice(1)]); // no .rucio.upload anywhere
    // The storage was asked for its adler32 of the temporary object and of the final one.
    expect(traffic.seen.filter((q) => q.method === 'HEAD').map((q) => q.url.endsWith('.rucio.upload'))).toEqual([true, false]);
    const { lake: reader } = await w.lake();
    const content = await reader.rucio.dids.content({ scope: 'user.jdoe', name: 'results' }).toArray();
    expect(content.map((c) => c.name)).toEqual(['result.fits']);
    // Same file again: nothing to do.
    const again = await lake.staging.upload([{ name: 'result.fits', data }], { scope: 'user.jdoe', rse: 'XRD1' });
    expect(again.files[0]?.status).toBe('SKIPPED');
  });

  it('names the final object right on XRootD (which does not decode MOVE Destination) for a path with a space and non-ASCII letters', async () => {
    const w = world();
    const { lake, traffic } = await w.lake();
    const data = new TextEncoder().encode('unicode path result');
    const res = await lake.staging.upload([{ name: 'out.txt', data }], { scope: 'user.jdoe', rse: 'XRD1_UNICODE' });
    expect(res.files[0]).toMatchObject({ status: 'OK' });
    const final = await storagePath('/rucio space/dätä', 'user.jdoe', 'out.txt');
    expect(listFiles(se1.dataDir)).toEqual([final.slice(1)]);
    expect(existsSync(se1.hostPath(final))).toBe(true);
    // The Destination header carried the UTF-8 bytes of the decoded path, not %-escapes.
    const move = traffic.seen.find((q) => q.method === 'MOVE');
    expect(move?.destination).toContain('/rucio space/');
    expect(move?.destination).not.toContain('%');
    // And it reads back through its PFN.
    const r = await lake.staging.stage(['user.jdoe:out.txt'], { mode: 'download' });
    expect(r.files[0]).toMatchObject({ status: 'OK', verified: ['size', 'adler32'] });
  });

  it('a storage.read-only token fails at "transfer" with a ForbiddenError: the replica stays COPYING, nothing is left on storage; a re-run with a good token finishes it', async () => {
    const w = world();
    const data = noise(4096, 9);
    const ro = await w.lake({ scope: 'storage.read:/' });
    const failed = await ro.lake.staging.upload([{ name: 'denied.fits', data }], { scope: 'user.jdoe', rse: 'XRD1', dataset: 'user.jdoe:out' });
    expect(failed.ok).toBe(false);
    const m = failed.files[0];
    expect(m).toMatchObject({ status: 'FAILED', step: 'transfer' });
    expect(m?.error).toBeInstanceOf(UploadError);
    expect(m?.error).toMatchObject({ step: 'transfer', code: 'DLAAS_FORBIDDEN', did: 'user.jdoe:denied.fits' });
    expect(m?.error?.cause).toBeInstanceOf(ForbiddenError);
    expect(m?.error?.cause).toMatchObject({ status: 403, service: 'storage' });
    expect(JSON.stringify(m)).not.toMatch(/eyJ/); // no token in the manifest
    expect(w.replicaState('denied.fits', 'XRD1')).toBe('COPYING');
    expect(listFiles(se1.dataDir)).toEqual([]);

    const good = await w.lake();
    const steps: UploadStep[] = [];
    const done = await good.lake.staging.upload([{ name: 'denied.fits', data }], { scope: 'user.jdoe', rse: 'XRD1', dataset: 'user.jdoe:out', onProgress: (e) => void (e.type === 'step' && steps.push(e.step)) });
    expect(done.files[0]).toMatchObject({ status: 'OK' });
    expect(steps).toEqual(['checksum', 'check', 'pfn', 'transfer', 'verify', 'rename', 'set-available', 'attach']); // already registered
    expect(w.replicaState('denied.fits', 'XRD1')).toBe('AVAILABLE');
    expect(listFiles(se1.dataDir)).toEqual([(await storagePath('/rucio', 'user.jdoe', 'denied.fits')).slice(1)]);
  });

  it('after a failure past the rename, a re-run only sets the replica AVAILABLE (the bytes are verified in place)', async () => {
    const w = world();
    const data = noise(10_000, 10);
    // Rucio refuses the state change once (as a flaky server would).
    let refuse = true;
    const rucioFetch: typeof fetch = async (input, init) => {
      const req = new Request(input, init);
      if (refuse && req.method === 'PUT' && new URL(req.url).pathname === '/replicas') {
        refuse = false;
        return new Response(JSON.stringify({ ExceptionClass: 'DatabaseException', ExceptionMessage: 'Database exception.' }), { status: 500 });
      }
      return w.rucio.fetch(req);
    };
    const storageToken = await se1.mintToken({ scope: FULL });
    const lake = createDataLake({ rucio: { baseUrl: w.rucio.baseUrl, account: 'jdoe', token: w.rucioToken, fetch: rucioFetch, retry: { limit: 0 } }, auth: { storageToken } });
    const first = await lake.staging.upload([{ name: 'late.fits', data }], { scope: 'user.jdoe', rse: 'XRD1' });
    expect(first.files[0]).toMatchObject({ status: 'FAILED', step: 'set-available' });
    expect(w.replicaState('late.fits', 'XRD1')).toBe('COPYING');
    const steps: UploadStep[] = [];
    const second = await lake.staging.upload([{ name: 'late.fits', data }], { scope: 'user.jdoe', rse: 'XRD1', onProgress: (e) => void (e.type === 'step' && steps.push(e.step)) });
    expect(second.files[0]).toMatchObject({ status: 'OK' });
    expect(steps).toEqual(['checksum', 'check', 'pfn', 'set-available']);
    expect(w.replicaState('late.fits', 'XRD1')).toBe('AVAILABLE');
  });

  it('an abort during the upload removes the temporary object and leaves the replica COPYING', async () => {
    const w = world();
    const { lake } = await w.lake();
    const ac = new AbortController();
    const upload = lake.staging.upload([{ name: 'aborted.fits', data: noise(300_000, 12) }], {
      scope: 'user.jdoe',
      rse: 'XRD1',
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'step' && e.step === 'verify') ac.abort();
      },
    });
    await expect(upload).rejects.toMatchObject({ code: 'DLAAS_ABORTED' });
    expect(listFiles(se1.dataDir)).toEqual([]);
    expect(w.replicaState('aborted.fits', 'XRD1')).toBe('COPYING');
  });

  it('a replica whose bytes on storage were changed behind its back is re-uploaded, not trusted', async () => {
    const w = world();
    const data = noise(10_000, 11);
    const { lake } = await w.lake();
    // Registered and on storage, but the stored object is different (e.g. an older attempt).
    await lake.rucio.replicas.add('XRD1', [{ scope: 'user.jdoe', name: 'stale.fits', bytes: data.length, adler32: (await checksumOf(data)).adler32, state: 'COPYING' }]);
    const final = await storagePath('/rucio', 'user.jdoe', 'stale.fits');
    se1.seed(final, noise(10_000, 99));
    const steps: UploadStep[] = [];
    const r = await lake.staging.upload([{ name: 'stale.fits', data }], { scope: 'user.jdoe', rse: 'XRD1', onProgress: (e) => void (e.type === 'step' && steps.push(e.step)) });
    expect(r.files[0]).toMatchObject({ status: 'OK' });
    expect(steps).toContain('transfer');
    expect(Buffer.from(se1.readBack(final) ?? []).equals(Buffer.from(data))).toBe(true);
  });
});
