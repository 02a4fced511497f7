/**
 * The whole round trip as a notebook would run it: the ESAP basket (a Rucio dataset and a VO record
 * whose access URL is served over loopback HTTP) → stage into a local directory → process the files
 * → upload the result into the Data Lake → stage the result back and find it intact.
 */
import { openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDataLake, memorySink, parseDid, type StageEvent } from '../../src/index.js';
import { fileSink } from '../../src/node.js';
import { createDataLakeEmulator } from '../../src/testing.js';
import { listFiles, routeFetch, tempDir } from './helpers.js';

const WEIGHTS = 'band,weight\n1,0.5\n2,2\n3,1\n';
let server: Server;
let voUrl: string;
let voHits = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    voHits++;
    if (req.url === '/vo/weights.csv') res.writeHead(200, { 'content-type': 'text/csv', 'content-length': String(WEIGHTS.length) }).end(WEIGHTS);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  voUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/vo/weights.csv`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('basket → stage → process → upload → stage the result back', async () => {
  const emu = await createDataLakeEmulator();
  const token = emu.addUser({ account: 'jdoe', email: 'jdoe@example.org', admin: true });
  const bands = [1, 2, 3].map((b) => ({ name: `band_${b}.csv`, content: Array.from({ length: 50 }, (_, i) => String((i * b) % 17)).join('\n') }));
  await emu.seedDataset({ scope: 'user.jdoe', name: 'obs42', rse: 'SITE_A', files: bands });
  emu.esap.setBasket('jdoe', [
    { archive: 'rucio', record: { scope: 'user.jdoe', name: 'obs42', did_type: 'DATASET' } },
    { archive: 'astron_vo', record: { title: 'band weights', access_url: voUrl } },
  ]);
  const lake = createDataLake({
    rucio: { baseUrl: emu.url, account: 'jdoe', retry: { limit: 0 } },
    esap: { baseUrl: emu.url },
    auth: { token, storageToken: await emu.mintStorageToken() },
    // The emulated Data Lake in-process; anything else (the VO server) over the network.
    fetch: routeFetch({ [new URL(emu.url).origin]: emu.fetch }),
  });
  const work = tempDir('pipeline');
  try {
    // 1. Stage everything in the basket.
    const events: StageEvent[] = [];
    const staged = await lake.staging.stage(lake.esap.basket, { mode: 'download', sink: fileSink(work.dir), onProgress: (e) => events.push(e) });
    expect(staged.status).toBe('AVAILABLE');
    expect(staged.totals).toMatchObject({ files: 4, ok: 4 });
    expect(staged.files.filter((f) => f.did).every((f) => f.verified.join() === 'size,adler32')).toBe(true);
    const vo = staged.files.find((f) => f.url === voUrl);
    expect(vo).toMatchObject({ status: 'OK', bytes: WEIGHTS.length, localPath: join(work.dir, 'urls/weights.csv') });
    expect(voHits).toBe(1);
    expect(events.filter((e) => e.type === 'file')).toHaveLength(4);
    expect(listFiles(work.dir)).toEqual(['urls/weights.csv', 'user.jdoe/band_1.csv', 'user.jdoe/band_2.csv', 'user.jdoe/band_3.csv']);

    // 2. Process: a weighted sum per band from the staged files.
    const weights = new Map(
      readFileSync(vo!.localPath!, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').map(Number) as [number, number]),
    );
    const result = staged.files
      .filter((f) => f.did)
      .map((f) => {
        const band = Number(/band_(\d)/.exec(f.did!.name)![1]);
        const sum = readFileSync(f.localPath!, 'utf8').split('\n').map(Number).reduce((a, b) => a + b, 0);
        return { band, weighted: sum * (weights.get(band) ?? 0) };
      });
    const out = join(work.dir, 'summary.json');
    writeFileSync(out, JSON.stringify(result));

    // 3. Upload the result into a dataset, with a rule on the site's RSE.
    const up = await lake.staging.upload([{ name: 'obs42_summary.json', data: await openAsBlob(out) }], { scope: 'user.jdoe', rse: 'SITE_B', dataset: 'user.jdoe:obs42_results', rule: true });
    expect(up.ok).toBe(true);
    expect(up.files[0]).toMatchObject({ status: 'OK', did: { scope: 'user.jdoe', name: 'obs42_summary.json' } });
    const [rep] = await lake.rucio.replicas.list([parseDid('user.jdoe:obs42_summary.json')]).toArray();
    expect(rep?.states).toEqual({ SITE_B: 'AVAILABLE' });
    expect((await lake.rucio.dids.content(parseDid('user.jdoe:obs42_results')).toArray()).map((c) => c.name)).toEqual(['obs42_summary.json']);
    expect((await lake.rucio.rules.get(up.ruleIds[0]!)).rse_expression).toBe('SITE_B');

    // 4. The result dataset stages back, verified against the checksums registered at upload.
    const back = await lake.staging.stage(['user.jdoe:obs42_results'], { mode: 'download', sink: memorySink() });
    expect(back.files[0]).toMatchObject({ status: 'OK', verified: ['size', 'adler32'] });
    expect(JSON.parse(await (back.files[0]!.location as { blob: Blob }).blob.text())).toEqual(result);
  } finally {
    work.remove();
    await emu.close();
  }
});
