/**
 * End to end: a basket with Rucio items (as the ESAP GUI stores them) → `basket.dids()` →
 * `rucio.replicas.list`, with the ESAP and Rucio emulators behind one loopback HTTP server (the
 * ESAP emulator serves `/esap-api/…`, everything else goes to Rucio).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RucioClient, formatDid } from '../../src/index.js';
import { EsapClient, rucioItem } from '../../src/esap/index.js';
import { serveFetch, type FetchServer } from '../../src/testing/http-server.js';
import { createEsapEmulator } from '../../src/testing/esap/index.js';
import { createRucioEmulator } from '../../src/testing.js';

describe('ESAP basket → DIDs → Rucio replicas', () => {
  const rucio = createRucioEmulator();
  const esap = createEsapEmulator();
  let server: FetchServer;
  let rucioToken = '';

  beforeAll(async () => {
    rucio.addAccount('alice', { email: 'alice@example.org' });
    rucio.addScope('ESCAPE_CTA_TEST', 'alice');
    rucio.addRse('CERN_DISK', { protocols: [{ scheme: 'davs', hostname: 'eos.example.org', port: 443, prefix: '/eos/escape/' }] });
    await rucio.seedDataset({
      scope: 'ESCAPE_CTA_TEST',
      name: 'prod5_dataset_0001',
      rse: 'CERN_DISK',
      files: [
        { name: 'gamma_run100.simtel.zst', content: 'gamma 100' },
        { name: 'gamma_run101.simtel.zst', content: 'gamma 101' },
      ],
    });
    await rucio.seedDataset({ scope: 'ESCAPE_CTA_TEST', name: 'other_dataset', rse: 'CERN_DISK', files: [{ name: 'proton_run7.simtel.zst', content: 'proton 7' }] });
    rucioToken = rucio.issueToken('alice');

    // The basket as the GUI stored it: Rucio search rows, the same file twice in two key variants, other archives.
    esap.addUser({
      user_name: 'alice',
      email: 'alice@example.org',
      tokens: ['alice-iam-token'],
      items: [
        { archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST', name: 'proton_run7.simtel.zst', did_type: 'FILE', bytes: 8, length: null } },
        { archive: 'zooniverse', catalog: 'project', project_id: '12268', category: 'classifications' },
        { archive: 'rucio', record: { did: 'ESCAPE_CTA_TEST:proton_run7.simtel.zst', type: 'FILE' } },
      ],
    });
    server = await serveFetch((request) => (esap.serves(request) ? esap.handle(request) : rucio.handle(request)));
  });
  afterAll(async () => {
    await server.close();
    await rucio.close();
  });

  it('adds a dataset from Rucio to the basket, then lists the replicas of every basket DID', async () => {
    const esapClient = new EsapClient({ baseUrl: server.url, token: 'alice-iam-token' });
    const rucioClient = new RucioClient({ baseUrl: server.url, account: 'alice', token: rucioToken });

    const found = await rucioClient.dids.get({ scope: 'ESCAPE_CTA_TEST', name: 'prod5_dataset_0001' });
    await esapClient.basket.add(rucioItem(found, { did_type: found.type, bytes: found.bytes ?? null, length: found.length ?? null }));

    const dids = await esapClient.basket.dids();
    expect(dids.map(formatDid)).toEqual(['ESCAPE_CTA_TEST:proton_run7.simtel.zst', 'ESCAPE_CTA_TEST:prod5_dataset_0001']);

    const replicas = await rucioClient.replicas.list(dids, { schemes: ['davs'] }).toArray();
    expect([...new Set(replicas.map((r) => r.name))].sort()).toEqual(['gamma_run100.simtel.zst', 'gamma_run101.simtel.zst', 'proton_run7.simtel.zst']);
    for (const r of replicas) {
      expect(Object.keys(r.rses)).toEqual(['CERN_DISK']);
      expect(Object.keys(r.pfns)[0]).toMatch(/^davs:\/\/eos\.example\.org:443\/eos\/escape\/ESCAPE_CTA_TEST\//);
    }
    expect(esap.basket('alice')).toHaveLength(4);
  });
});
