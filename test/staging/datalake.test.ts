/**
 * Staging end to end against the emulated Data Lake (Rucio + ESAP + storage behind one URL): replica
 * mode (rules, waits, mount paths, local checks), download mode (request economy, concurrency,
 * progress, abort, fall-back) and upload conflicts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError, RuleNotProgressingError, RuleStuckError, UploadError, createDataLake, memorySink, parseDid, type StageEvent } from '../../src/index.js';
import { statFile } from '../../src/node.js';
import { createDataLakeEmulator, type DataLakeEmulator } from '../../src/testing.js';
import { tempDir, trafficFetch } from './helpers.js';

const MOUNT_PREFIX_SEGMENTS = 3; // /storage/site_b/rucio/… → …

async function setup(o: { mount?: string; storageDelayMs?: number } = {}) {
  const emu = await createDataLakeEmulator();
  const token = emu.addUser({ account: 'jdoe', email: 'jdoe@example.org', admin: true });
  const files = [1, 2, 3].map((i) => ({ name: `img_${i}.fits`, content: `SIMPLE  = T ${'x'.repeat(100 * i)}` }));
  await emu.seedDataset({ scope: 'user.jdoe', name: 'obs1', rse: 'SITE_A', files });
  const delay = o.storageDelayMs ?? 0;
  const traffic = trafficFetch(async (input, init) => {
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return emu.fetch(input, init);
  });
  const lake = createDataLake({
    rucio: { baseUrl: emu.url, account: 'jdoe', retry: { limit: 0 } },
    esap: { baseUrl: emu.url },
    // Storage takes WLCG JWTs, not Rucio's own tokens.
    auth: { token, storageToken: await emu.mintStorageToken() },
    staging: { destinationRse: 'SITE_B', rseMountPath: o.mount ?? '/mnt/site_b', pathBeginsAt: MOUNT_PREFIX_SEGMENTS, statFile, fetch: traffic.fetch },
    fetch: emu.fetch,
  });
  return { emu, lake, token, files, traffic };
}

const rucioCalls = (emu: DataLakeEmulator) => emu.rucio.requests.map((r) => `${r.method} ${r.path}`);

describe('replica mode', () => {
  it('creates a rule (copies 1, DATASET grouping, lifetime, activity), reports its progress with bytes, maps PFNs to the mount, reuses the rule next time', async () => {
    const { emu, lake, files } = await setup();
    // One file is already on the destination: its lock is OK from the start.
    await emu.seedDataset({ scope: 'user.jdoe', name: 'obs1b', rses: ['SITE_A', 'SITE_B'], files: [{ name: 'img_0.fits', content: 'ALREADY THERE' }] });
    await lake.rucio.dids.attach(parseDid('user.jdoe:obs1'), [parseDid('user.jdoe:img_0.fits')]);
    const bytes = files.reduce((n, f) => n + f.content.length, 0) + 'ALREADY THERE'.length;
    const events: StageEvent[] = [];
    // The transfers complete once the first progress of the rule was reported (an event, not a delay
    // that a busy machine could outrun before the rule even exists).
    const onProgress = (e: StageEvent) => {
      events.push(e);
      if (e.type === 'rule' && events.filter((x) => x.type === 'rule').length === 1) void emu.completeTransfers();
    };
    const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20, lifetime: 86_400, activity: 'User Subscriptions', onProgress });
    expect(r.mode).toBe('replica');
    expect(r.status).toBe('AVAILABLE');
    expect(r.rules).toHaveLength(1);
    expect(r.rules[0]).toMatchObject({ created: true, state: 'OK', did: { scope: 'user.jdoe', name: 'obs1' } });
    const rule = await lake.rucio.rules.get(r.rules[0]!.id);
    expect(rule).toMatchObject({ copies: 1, grouping: 'DATASET', rse_expression: 'SITE_B', activity: 'User Subscriptions', account: 'jdoe' });
    expect(rule.expires_at).toBeTruthy();
    const ruleEvents = events.filter((e) => e.type === 'rule');
    expect(ruleEvents[0]).toMatchObject({ state: 'REPLICATING', ok: 1, replicating: 3, stuck: 0, total: 4, bytes, bytesOk: 'ALREADY THERE'.length });
    expect(ruleEvents.at(-1)).toMatchObject({ state: 'OK', ok: 4, replicating: 0, total: 4, bytes, bytesOk: bytes });
    expect(events.filter((e) => e.type === 'file').map((e) => (e as { done: number }).done)).toEqual([1, 2, 3, 4]);
    for (const f of r.files) {
      expect(f.status).toBe('OK');
      // PFN http://…/storage/site_b/rucio/user/jdoe/xx/yy/name → /mnt/site_b/user/jdoe/xx/yy/name
      expect(f.localPath).toBe(`/mnt/site_b/${new URL(f.sourcePfn as string).pathname.split('/').slice(1 + MOUNT_PREFIX_SEGMENTS).join('/')}`);
      expect(f.localPath).toMatch(new RegExp(`^/mnt/site_b/user/jdoe/[0-9a-f]{2}/[0-9a-f]{2}/${f.did?.name}$`));
    }
    emu.rucio.resetLog();
    const again = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20 });
    expect(again.rules[0]).toMatchObject({ id: r.rules[0]!.id, created: false });
    expect(again.status).toBe('AVAILABLE');
    expect(rucioCalls(emu).filter((c) => c.startsWith('POST /rules'))).toEqual([]);
  });

  it('without waiting: files not yet on the RSE are REPLICATING (the rule state), then AVAILABLE once transfers finish', async () => {
    const { emu, lake } = await setup();
    const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', wait: false });
    expect(r.status).toBe('REPLICATING');
    expect(r.files.map((f) => f.status)).toEqual(['REPLICATING', 'REPLICATING', 'REPLICATING']);
    expect(r.files.every((f) => f.localPath === undefined)).toBe(true);
    await emu.completeTransfers();
    const later = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', wait: false });
    expect(later.status).toBe('AVAILABLE');
    expect(later.rules[0]).toMatchObject({ id: r.rules[0]!.id, created: false, state: 'OK' });
  });

  it('a failed transfer makes the rule STUCK and its files STUCK, with the rule error', async () => {
    const { emu, lake } = await setup();
    // The transfers fail once the rule is being waited on (its first progress), not after a delay.
    let failed = false;
    const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20, onProgress: (e) => void (e.type === 'rule' && !failed && ((failed = true), emu.failTransfers())) });
    expect(r.status).toBe('STUCK');
    expect(r.files.every((f) => f.status === 'STUCK' && f.error instanceof RuleStuckError)).toBe(true);
  });

  it('a SUSPENDED rule (it will not progress by itself) gives STUCK files instead of waiting forever', async () => {
    const { lake } = await setup();
    const [id] = await lake.rucio.rules.create({ dids: [parseDid('user.jdoe:obs1')], copies: 1, rse_expression: 'SITE_B' });
    await lake.rucio.rules.update(id!, { state: 'SUSPENDED' });
    const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20 });
    expect(r.rules[0]).toMatchObject({ id, created: false, state: 'SUSPENDED' });
    expect(r.status).toBe('STUCK');
    expect(r.files.every((f) => f.status === 'STUCK' && f.error instanceof RuleNotProgressingError)).toBe(true);
  });

  it('verifyLocal checks each path on the mount: present with the catalogue size → OK, missing → NOT_AVAILABLE, wrong size → FAILED', async () => {
    const mount = tempDir('mount');
    try {
      const { emu, lake } = await setup({ mount: mount.dir });
      let completed = false;
      await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20, onProgress: (e) => void (e.type === 'rule' && !completed && ((completed = true), emu.completeTransfers())) });
      // The destination storage's files, as the FUSE mount of SITE_B would show them.
      const se = emu.storage.get('SITE_B')!;
      for (const p of se.list()) {
        const local = join(mount.dir, p.split('/').slice(1 + MOUNT_PREFIX_SEGMENTS).join('/'));
        mkdirSync(dirname(local), { recursive: true });
        if (p.endsWith('img_2.fits')) continue; // not (yet) visible on the mount
        writeFileSync(local, p.endsWith('img_3.fits') ? 'truncated' : (se.get(p) as Uint8Array));
      }
      const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', verifyLocal: true });
      const by = Object.fromEntries(r.files.map((f) => [f.did?.name, f]));
      expect(by['img_1.fits']).toMatchObject({ status: 'OK', verified: ['size'] });
      expect(by['img_2.fits']).toMatchObject({ status: 'NOT_AVAILABLE', error: { code: 'DLAAS_NOT_FOUND' } });
      expect(by['img_3.fits']).toMatchObject({ status: 'FAILED', error: { code: 'DLAAS_CHECKSUM_MISMATCH' } });
      expect(by['img_3.fits']?.error?.message).toContain('has 9 bytes');
      expect(r.status).toBe('PARTIALLY_AVAILABLE');
    } finally {
      mount.remove();
    }
  });

  it('refuses URL sources, and needs the destination RSE and mount path', async () => {
    const { lake, emu, token } = await setup();
    await expect(lake.staging.stage([{ url: 'https://example.org/x.fits' }], { mode: 'replica' })).rejects.toBeInstanceOf(InvalidArgumentError);
    const bare = createDataLake({ rucio: { baseUrl: emu.url, token }, fetch: emu.fetch });
    await expect(bare.staging.stage(['user.jdoe:obs1'], { mode: 'replica' })).rejects.toMatchObject({ code: 'DLAAS_CONFIG', setting: 'RUCIO_DESTINATION_RSE' });
    await expect(bare.staging.stage(['user.jdoe:obs1'], { mode: 'replica', rse: 'SITE_B' })).rejects.toMatchObject({ setting: 'RUCIO_RSE_MOUNT_PATH' });
  });

  it('stops waiting for a rule as soon as the signal aborts (the pause between polls is a day: only the abort can end it)', async () => {
    const { lake, emu } = await setup();
    const ac = new AbortController();
    let requestsAtAbort = -1;
    const stage = lake.staging.stage(['user.jdoe:obs1'], {
      mode: 'replica',
      pollInterval: 86_400_000,
      signal: ac.signal,
      // After the first poll's progress the SDK starts its pause (a macrotask later, it is in it).
      onProgress: (e) =>
        void (e.type === 'rule' &&
          requestsAtAbort < 0 &&
          setTimeout(() => {
            requestsAtAbort = emu.rucio.requests.length;
            ac.abort();
          }, 0)),
    });
    await expect(stage).rejects.toBeInstanceOf(AbortError);
    expect(requestsAtAbort).toBeGreaterThan(0);
    // Nothing was asked of Rucio after the abort.
    expect(emu.rucio.requests.length).toBe(requestsAtAbort);
  });
});

describe('download mode', () => {
  it('verified copies of a dataset, then skipped when already present', async () => {
    const { lake, files } = await setup();
    const sink = memorySink();
    const events: StageEvent[] = [];
    const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'download', sink, onProgress: (e) => events.push(e) });
    expect(r.status).toBe('AVAILABLE');
    // What Rucio verifies: adler32 when the catalogue has it (md5 only on request).
    expect(r.files.map((f) => [f.did?.name, f.status, f.verified])).toEqual(files.map((f) => [f.name, 'OK', ['size', 'adler32']]));
    const both = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'download', sink: memorySink(), verify: ['adler32', 'md5'] });
    expect(both.files.map((f) => f.verified)).toEqual(files.map(() => ['size', 'adler32', 'md5']));
    expect(await sink.files.get('user.jdoe/img_2.fits')?.text()).toBe(files[1]!.content);
    const total = files.reduce((n, f) => n + f.content.length, 0);
    expect(events[0]).toEqual({ type: 'plan', files: 3, bytes: total });
    const byteEvents = events.filter((e) => e.type === 'bytes');
    expect(byteEvents.map((e) => e.overallBytes)).toEqual([...byteEvents.map((e) => e.overallBytes)].sort((a, b) => a - b));
    expect(byteEvents.at(-1)).toMatchObject({ overallBytes: total, overallTotal: total });
    expect(byteEvents.every((e) => e.rate > 0)).toBe(true);
    const again = await lake.staging.stage([parseDid('user.jdoe:obs1')], { mode: 'download', sink });
    expect(again.totals.skipped).toBe(3);
  });

  it(`asks Rucio for N = 1,200 files of one dataset in at most ⌈N/500⌉ + 3 requests`, async () => {
    const { emu, lake } = await setup();
    const n = 1200;
    await emu.seedDataset({ scope: 'user.jdoe', name: 'big', rse: 'SITE_A', files: Array.from({ length: n }, (_, i) => ({ name: `f_${i}`, content: `file ${i}` })) });
    emu.rucio.resetLog();
    const r = await lake.staging.stage(['user.jdoe:big'], { mode: 'download', sink: memorySink(), concurrency: 16 });
    expect(r.totals).toMatchObject({ files: n, ok: n });
    const calls = rucioCalls(emu);
    expect(calls.length).toBeLessThanOrEqual(Math.ceil(n / 500) + 3);
    expect(calls).toEqual(['GET /dids/user.jdoe/big/files', 'POST /replicas/list', 'POST /replicas/list', 'POST /replicas/list']);
  });

  it('keeps at most `concurrency` transfers in flight', async () => {
    const { emu, lake, traffic } = await setup({ storageDelayMs: 20 });
    await emu.seedDataset({ scope: 'user.jdoe', name: 'ten', rse: 'SITE_A', files: Array.from({ length: 10 }, (_, i) => ({ name: `t_${i}`, content: `ten ${i}` })) });
    const r = await lake.staging.stage(['user.jdoe:ten'], { mode: 'download', sink: memorySink(), concurrency: 3 });
    expect(r.totals.ok).toBe(10);
    expect(traffic.maxInFlight).toBe(3);
  });

  it('an abort stops everything: no request after it, and only verified files were published', async () => {
    const { emu, lake, traffic } = await setup({ storageDelayMs: 5 });
    await emu.seedDataset({ scope: 'user.jdoe', name: 'six', rse: 'SITE_A', files: Array.from({ length: 6 }, (_, i) => ({ name: `s_${i}`, content: `six ${i}` })) });
    const ac = new AbortController();
    let requestsAtAbort = -1;
    const sink = memorySink();
    const stage = lake.staging.stage(['user.jdoe:six'], {
      mode: 'download',
      sink,
      concurrency: 2,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'file' && requestsAtAbort < 0) {
          requestsAtAbort = traffic.seen.length;
          ac.abort();
        }
      },
    });
    await expect(stage).rejects.toBeInstanceOf(AbortError);
    await new Promise((r) => setTimeout(r, 50));
    expect(traffic.seen.length).toBe(requestsAtAbort);
    expect(sink.files.size).toBeGreaterThan(0);
    expect(sink.files.size).toBeLessThan(6);
    for (const [path, blob] of sink.files) expect(await blob.text()).toBe(`six ${path.split('_')[1]}`);
  });

  it('falls back to the next replica when one is refused (403) and reports the files without replicas', async () => {
    const { emu, lake, traffic } = await setup();
    await emu.seedDataset({ scope: 'user.jdoe', name: 'two', rses: ['SITE_A', 'SITE_B'], files: [{ name: 'both.fits', content: 'on both sites' }] });
    // A file in the dataset without an available replica (registered, never written).
    await lake.rucio.replicas.add('SITE_A', [{ scope: 'user.jdoe', name: 'ghost.fits', bytes: 1, adler32: '00620062', state: 'COPYING' }]);
    await lake.rucio.dids.attach(parseDid('user.jdoe:two'), [parseDid('user.jdoe:ghost.fits')]);
    emu.storage.get('SITE_B')!.failNext({ method: 'GET', status: 403, body: 'permission denied' });
    const r = await lake.staging.stage(['user.jdoe:two'], { mode: 'download', sink: memorySink() });
    const both = r.files.find((f) => f.did?.name === 'both.fits');
    expect(both).toMatchObject({ status: 'OK', attempts: 2 });
    expect(both?.sourcePfn).toContain('/storage/site_a/');
    expect(traffic.seen.filter((q) => q.method === 'GET').map((q) => [new URL(q.url).pathname.split('/')[2], q.status])).toEqual([
      ['site_b', 403], // the destination RSE is preferred; a refusal is not retried
      ['site_a', 200],
    ]);
    expect(r.files.find((f) => f.did?.name === 'ghost.fits')).toMatchObject({ status: 'NOT_AVAILABLE', error: { code: 'DLAAS_NOT_FOUND' } });
    expect(r.status).toBe('PARTIALLY_AVAILABLE');
  });

  it('retries an interrupted body on the same replica with Range, resuming at the byte it stopped', async () => {
    const { emu, lake, traffic } = await setup();
    const content = 'R'.repeat(50_000);
    await emu.seedDataset({ scope: 'user.jdoe', name: 'cut', rse: 'SITE_A', files: [{ name: 'cut.fits', content }] });
    const path = emu.storage.get('SITE_A')!.list().find((p) => p.endsWith('/cut.fits'))!;
    emu.storage.get('SITE_A')!.interruptNextGet(path, 20_000);
    const r = await lake.staging.stage(['user.jdoe:cut.fits'], { mode: 'download', sink: memorySink() });
    expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 2, verified: ['size', 'adler32'] });
    expect(traffic.seen.filter((q) => q.method === 'GET').map((q) => q.range)).toEqual([null, 'bytes=20000-']);
  });

  it('gives up on a body that stalls for stallTimeout and resumes it with Range', async () => {
    const { emu, lake, traffic } = await setup();
    await emu.seedDataset({ scope: 'user.jdoe', name: 'stall', rse: 'SITE_A', files: [{ name: 'slow.fits', content: 'S'.repeat(40_000) }] });
    // The pause is for good (only the SDK cancelling ends it): the second attempt is the watchdog's doing.
    // 1 s: long enough that a busy machine does not take a healthy stream for a stalled one.
    traffic.tamper = (req, i) => (req.method === 'GET' && i === 0 ? { pauseAfter: 10_000 } : undefined);
    const t0 = Date.now();
    // Past a generous 30 s the run is aborted: stallTimeout must fire, not the 60 s default.
    const r = await lake.staging.stage(['user.jdoe:slow.fits'], { mode: 'download', sink: memorySink(), stallTimeout: 1_000, signal: AbortSignal.timeout(30_000) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000); // a lower bound: a busy machine only adds to it
    expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 2, verified: ['size', 'adler32'] });
    expect(traffic.seen.filter((q) => q.method === 'GET').map((q) => q.range)).toEqual([null, 'bytes=10000-']);
  });

  it('a corrupt partial left by an earlier run is not blamed on the replica: the same replica is read again from byte 0', async () => {
    const { emu, lake, traffic } = await setup();
    await emu.seedDataset({ scope: 'user.jdoe', name: 'part', rse: 'SITE_A', files: [{ name: 'p.fits', content: 'GOOD BYTES HERE' }] });
    const sink = memorySink();
    const rep = await lake.rucio.dids.get({ scope: 'user.jdoe', name: 'p.fits' });
    const slot = await sink.open('user.jdoe/p.fits', { expected: { id: 'user.jdoe:p.fits', bytes: rep.bytes ?? null, adler32: rep.adler32 ?? null, md5: rep.md5 ?? null } });
    await slot.write(new TextEncoder().encode('BAD '), 0);
    await slot.close({ keep: { segments: [{ start: 0, end: rep.bytes as number, done: 4 }] } });
    const r = await lake.staging.stage(['user.jdoe:p.fits'], { mode: 'download', sink });
    expect(r.files[0]).toMatchObject({ status: 'OK', attempts: 2 });
    expect(traffic.seen.filter((q) => q.method === 'GET').map((q) => q.range)).toEqual(['bytes=4-', null]);
    expect(await sink.files.get('user.jdoe/p.fits')?.text()).toBe('GOOD BYTES HERE');
  });

  it('gives every URL source its own path, and refuses two DIDs on one path', async () => {
    const { lake, emu } = await setup();
    const served = (body: string) => new Response(body, { status: 200 });
    const lake2 = createDataLake({ rucio: { baseUrl: emu.url, token: emu.addUser({ account: 'ann' }) }, fetch: emu.fetch, staging: { fetch: async (input) => served(input instanceof Request ? input.url : String(input)) } });
    const sink = memorySink();
    const r = await lake2.staging.stage([{ url: 'https://a.example/x/cat.fits' }, { url: 'https://b.example/y/cat.fits' }], { sink });
    expect([...sink.files.keys()].sort()).toEqual(['urls/cat-2.fits', 'urls/cat.fits']);
    expect(r.files.every((f) => f.status === 'OK' && f.verified.length === 0 && f.bytes !== null)).toBe(true);
    await emu.seedDataset({ scope: 'user.ann', name: 'dup', rse: 'SITE_A', files: [{ name: 'img_1.fits', content: 'other' }] });
    await expect(lake.staging.stage(['user.jdoe:img_1.fits', 'user.ann:img_1.fits'], { mode: 'download', layout: 'flat', sink: memorySink() })).rejects.toMatchObject({ argument: 'layout' });
  });

  it('a hostile file name in a dataset fails that file only; the others are staged', async () => {
    const { lake, emu } = await setup();
    await emu.seedDataset({ scope: 'user.jdoe', name: 'mixed', rse: 'SITE_A', files: [{ name: 'good.fits', content: 'SIMPLE  = T good' }, { name: 'sub/../../escape.fits', content: 'evil' }, { name: 'x.dlaas-part', content: 'reserved' }] });
    const sink = memorySink();
    const r = await lake.staging.stage(['user.jdoe:mixed'], { mode: 'download', sink });
    const by = (n: string) => r.files.find((f) => f.did?.name === n);
    expect(by('good.fits')).toMatchObject({ status: 'OK' });
    expect(by('sub/../../escape.fits')).toMatchObject({ status: 'FAILED' });
    expect(by('sub/../../escape.fits')?.error).toBeInstanceOf(InvalidArgumentError);
    expect(by('sub/../../escape.fits')?.error?.message).toMatch(/cannot be used as a local path/);
    expect(by('x.dlaas-part')).toMatchObject({ status: 'FAILED' });
    expect([...sink.files.keys()]).toEqual(['user.jdoe/good.fits']);
  });
});

describe('bad input', () => {
  it('is refused with a typed error naming the option', async () => {
    const { lake } = await setup();
    const cases: [Record<string, unknown>, string][] = [
      [{ concurrency: 0 }, 'concurrency'],
      [{ concurrency: 1.5 }, 'concurrency'],
      [{ attemptsPerSource: -1 }, 'attemptsPerSource'],
      [{ mode: 'copy' }, 'mode'],
      [{ layout: 'tree' }, 'layout'],
      [{ rse: '' }, 'rse'],
      [{ lifetime: '1d' }, 'lifetime'],
      [{ preferRses: 'SITE_A' }, 'preferRses'],
    ];
    for (const [options, argument] of cases) {
      await expect(lake.staging.stage(['user.jdoe:obs1'], options as never), argument).rejects.toMatchObject({ code: 'DLAAS_INVALID_ARGUMENT', argument });
    }
    await expect(lake.staging.stage([{ url: 'ftp://x/y' }])).rejects.toMatchObject({ argument: 'sources[0].url' });
    await expect(lake.staging.stage(['not a did'])).rejects.toMatchObject({ code: 'DLAAS_INVALID_DID' });
    await expect(lake.staging.upload([{ name: 'a', data: 'text' as never }], { scope: 'user.jdoe', rse: 'SITE_B' })).rejects.toMatchObject({ argument: 'files[0].data' });
    await expect(lake.staging.upload([{ name: 'a', data: new Uint8Array(1) }, { name: 'a', data: new Uint8Array(1) }], { scope: 'user.jdoe', rse: 'SITE_B' })).rejects.toMatchObject({ argument: 'files[1].name' });
    await expect(lake.staging.upload([], { scope: 'user.jdoe', rse: 'SITE_B', concurrency: 0 })).rejects.toMatchObject({ argument: 'concurrency' });
  });
});

describe('upload', () => {
  it('results go into a dataset with a rule, replicas AVAILABLE, bytes on storage; a re-run is a no-op', async () => {
    const { emu, lake } = await setup();
    const data = new TextEncoder().encode('result image bytes');
    const res = await lake.staging.upload([{ name: 'image.png', data }], { scope: 'user.jdoe', rse: 'SITE_B', dataset: 'user.jdoe:results', rule: true });
    expect(res.ok).toBe(true);
    expect(res.files[0]).toMatchObject({ status: 'OK', bytes: data.length });
    expect(res.ruleIds).toHaveLength(1);
    const reps = await lake.rucio.replicas.list([parseDid('user.jdoe:image.png')]).toArray();
    expect(reps[0]!.states).toEqual({ SITE_B: 'AVAILABLE' });
    const content = await lake.rucio.dids.content(parseDid('user.jdoe:results')).toArray();
    expect(content.map((c) => c.name)).toEqual(['image.png']);
    expect(emu.storage.get('SITE_B')!.list().filter((p) => p.endsWith('/image.png'))).toHaveLength(1);
    expect(emu.storage.get('SITE_B')!.list().some((p) => p.endsWith('.rucio.upload'))).toBe(false);
    const again = await lake.staging.upload([{ name: 'image.png', data }], { scope: 'user.jdoe', rse: 'SITE_B', dataset: 'user.jdoe:results' });
    expect(again.files[0]!.status).toBe('SKIPPED');
  });

  it('a file whose DID exists with other content is a typed conflict at "check": nothing registered, nothing written', async () => {
    const { emu, lake } = await setup();
    const before = emu.storage.get('SITE_B')!.list();
    const res = await lake.staging.upload([{ name: 'img_1.fits', data: new TextEncoder().encode('not the catalogued image') }], { scope: 'user.jdoe', rse: 'SITE_B' });
    expect(res.ok).toBe(false);
    const e = res.files[0]!.error;
    expect(e).toBeInstanceOf(UploadError);
    expect(e).toMatchObject({ step: 'check', code: 'DLAAS_FILE_CONFLICT', did: 'user.jdoe:img_1.fits' });
    expect(e?.message).toMatch(/a different file with this name exists/);
    expect([...emu.rucio.fileReplicas()].filter((r) => r.did.name === 'img_1.fits').map((r) => `${r.rse}:${r.state}`)).toEqual(['SITE_A:AVAILABLE']);
    expect(emu.storage.get('SITE_B')!.list()).toEqual(before);
  });
});
