import { describe, expect, it } from 'vitest';
import { createDataLake, memorySink, parseDid, type StageEvent } from '../../src/index.js';
import { createDataLakeEmulator } from '../../src/testing.js';

async function setup() {
  const emu = await createDataLakeEmulator();
  const token = emu.addUser({ account: 'jdoe', email: 'jdoe@example.org', admin: true });
  const files = [1, 2, 3].map((i) => ({ name: `img_${i}.fits`, content: `SIMPLE  = T ${'x'.repeat(100 * i)}` }));
  await emu.seedDataset({ scope: 'user.jdoe', name: 'obs1', rse: 'SITE_A', files });
  const lake = createDataLake({
    rucio: { baseUrl: emu.url, account: 'jdoe', retry: { limit: 0 } },
    esap: { baseUrl: emu.url },
    // Storage takes WLCG JWTs, not Rucio's own tokens.
    auth: { token, storageToken: await emu.mintStorageToken() },
    staging: { destinationRse: 'SITE_B', rseMountPath: '/mnt/site_b', pathBeginsAt: 3 },
    fetch: emu.fetch,
  });
  return { emu, lake, token, files };
}

describe('staging against the emulated Data Lake', () => {
  it('download mode: verified copies of a dataset, then skipped when already present', async () => {
    const { lake, files } = await setup();
    const sink = memorySink();
    const events: StageEvent[] = [];
    const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'download', sink, onProgress: (e) => events.push(e) });
    expect(r.status).toBe('AVAILABLE');
    expect(r.files.map((f) => [f.did?.name, f.status, f.verified])).toEqual(files.map((f) => [f.name, 'OK', ['size', 'adler32', 'md5']]));
    const blob = sink.files.get('user.jdoe/img_2.fits');
    expect(await blob?.text()).toBe(files[1]!.content);
    expect(events[0]).toMatchObject({ type: 'plan', files: 3 });
    const again = await lake.staging.stage([parseDid('user.jdoe:obs1')], { mode: 'download', sink });
    expect(again.totals.skipped).toBe(3);
  });

  it('replica mode: creates a rule, waits for it, maps PFNs to the mount, reuses the rule next time', async () => {
    const { emu, lake } = await setup();
    const stage = lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20 });
    setTimeout(() => void emu.completeTransfers(), 100);
    const r = await stage;
    expect(r.status).toBe('AVAILABLE');
    expect(r.rules).toHaveLength(1);
    expect(r.rules[0]!.created).toBe(true);
    expect(r.files.every((f) => f.localPath?.startsWith('/mnt/site_b/user/jdoe/'))).toBe(true);
    const again = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20 });
    expect(again.rules[0]).toMatchObject({ id: r.rules[0]!.id, created: false });
  });

  it('replica mode: a failed transfer makes the rule STUCK and the files STUCK', async () => {
    const { emu, lake } = await setup();
    const stage = lake.staging.stage(['user.jdoe:obs1'], { mode: 'replica', pollInterval: 20 });
    setTimeout(() => emu.failTransfers(), 100);
    const r = await stage;
    expect(r.status).toBe('STUCK');
    expect(r.files.every((f) => f.status === 'STUCK')).toBe(true);
  });

  it('upload: results go into a dataset with a rule, replicas AVAILABLE, bytes on storage', async () => {
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
    expect([...emu.storage.get('SITE_B')!.list()].some((p) => p.endsWith('/image.png'))).toBe(true);
    expect([...emu.storage.get('SITE_B')!.list()].some((p) => p.endsWith('.rucio.upload'))).toBe(false);
    // Re-running the same upload is a no-op.
    const again = await lake.staging.upload([{ name: 'image.png', data }], { scope: 'user.jdoe', rse: 'SITE_B', dataset: 'user.jdoe:results' });
    expect(again.files[0]!.status).toBe('SKIPPED');
  });

  it('basket → stage: the Rucio items of the ESAP basket are staged', async () => {
    const { emu, lake } = await setup();
    emu.esap.setBasket('jdoe', [{ archive: 'rucio', record: { scope: 'user.jdoe', name: 'obs1' } }]);
    const r = await lake.staging.stage(lake.esap.basket, { mode: 'download', sink: memorySink() });
    expect(r.totals.ok).toBe(3);
  });
});
