/**
 * `POST /replicas/list` beyond the recorded calls: schemes and protocol priorities, LAN/WAN,
 * RSE restrictions and availability, files without replicas, nrandom, sorting, metalink.
 */
import { describe, expect, it } from 'vitest';
import { createRucioEmulator } from '../../src/testing.js';
import { lfn2pathHash } from '../../src/rucio/lfn2pfn.js';
import { call } from './helpers.js';

const A = await lfn2pathHash({ scope: 'test', name: 'a' });

type Listed = { name: string; pfns: Record<string, { rse: string; domain: string; priority: number }>; rses: Record<string, string[]>; states?: Record<string, string> };

async function world() {
  const rucio = createRucioEmulator();
  rucio.addScope('test', 'root');
  rucio.addRse('MULTI', {
    attributes: { site: 'lab' },
    protocols: [
      { scheme: 'root', hostname: 'x.example.org', port: 1094, prefix: '//data', domains: { wan: { read: 2 }, lan: { read: 1 } } },
      { scheme: 'davs', hostname: 'x.example.org', port: 443, prefix: '/data', domains: { wan: { read: 1 }, lan: { read: 2 } } },
      { scheme: 'https', hostname: 'x.example.org', port: 8443, prefix: '/data', domains: { wan: { read: null }, lan: { read: null } } },
    ],
  });
  rucio.addRse('OFFLINE', { availability: { read: false }, protocols: [{ scheme: 'davs', hostname: 'off.example.org', port: 443, prefix: '/' }] });
  await rucio.seedDataset({ scope: 'test', name: 'ds', rses: ['MULTI', 'OFFLINE'], files: ['a', 'b', 'c'].map((name) => ({ name, content: name })) });
  const root = rucio.issueToken('root');
  const list = async (body: Record<string, unknown>, query = '') => {
    const r = await call(rucio, root, 'POST', `/replicas/list${query}`, { dids: [{ scope: 'test', name: 'ds' }], ...body });
    expect(r.status, r.text).toBe(200);
    return r.lines() as Listed[];
  };
  return { rucio, root, list };
}

describe('POST /replicas/list', () => {
  it('picks the best read protocol per RSE without schemes, one PFN per listed scheme with them', async () => {
    const { list } = await world();
    const [a] = await list({});
    expect(Object.keys(a?.pfns ?? {})).toEqual([`davs://x.example.org:443/data/${A}`]);
    const [b] = await list({ schemes: ['root', 'davs', 'https'] });
    expect(b?.pfns).toMatchObject({ [`davs://x.example.org:443/data/${A}`]: { priority: 1, domain: 'wan' }, [`root://x.example.org:1094//data/${A}`]: { priority: 2, domain: 'wan' } });
    expect(Object.keys(b?.pfns ?? {})).toHaveLength(2);
    const [c] = await list({ schemes: ['https'] });
    expect(c).toMatchObject({ pfns: {}, rses: {}, states: { MULTI: 'AVAILABLE' } });
  });

  it('uses the LAN door for RSEs of the client site, LAN first', async () => {
    const { list } = await world();
    const [a] = await list({ client_location: { site: 'lab' } });
    expect(a?.pfns).toEqual({ [`root://x.example.org:1094//data/${A}`]: expect.objectContaining({ domain: 'lan', priority: 1 }) });
  });

  it('hides RSEs closed for reading unless asked, and restricts to an RSE expression', async () => {
    const { list } = await world();
    expect(Object.keys((await list({}))[0]?.rses ?? {})).toEqual(['MULTI']);
    expect(Object.keys((await list({ ignore_availability: true }))[0]?.rses ?? {}).sort()).toEqual(['MULTI', 'OFFLINE']);
    expect(Object.keys((await list({ unavailable: false }))[0]?.rses ?? {}).sort()).toEqual(['MULTI', 'OFFLINE']);
    expect(Object.keys((await list({ rse_expression: 'OFFLINE', ignore_availability: true }))[0]?.rses ?? {})).toEqual(['OFFLINE']);
  });

  it('lists an input file without usable replica with empty pfns/rses (collections skip it)', async () => {
    const { rucio, root, list } = await world();
    await call(rucio, root, 'POST', '/replicas', { rse: 'MULTI', files: [{ scope: 'test', name: 'pending', bytes: 1, state: 'C' }] });
    await call(rucio, root, 'POST', '/dids/test/ds/dids', { dids: [{ scope: 'test', name: 'pending' }] });
    expect((await list({})).map((f) => f.name)).toEqual(['a', 'b', 'c']);
    const r = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'pending' }] });
    expect(r.text).toBe('{"scope": "test", "name": "pending", "bytes": 1, "md5": null, "adler32": null, "pfns": {}, "rses": {}, "states": {}}\n');
    expect((await list({ all_states: true })).map((f) => f.name)).toEqual(['a', 'b', 'c', 'pending']);
  });

  it('nrandom, sort, updated_after, and merging several DIDs in (scope, name) order', async () => {
    const { rucio, root, list } = await world();
    expect(await list({ nrandom: 2 })).toHaveLength(2);
    expect(await list({ sort: 'random' })).toHaveLength(3);
    const bad = await call(rucio, root, 'POST', '/replicas/list?sort=nearest', { dids: [{ scope: 'test', name: 'ds' }] });
    expect([bad.status, bad.json()]).toEqual([400, { ExceptionClass: 'SortingAlgorithmNotSupported', ExceptionMessage: "Sorting algorithm: nearest is not supported. Supported protocols: ['geoip', 'custom_table', 'random']" }]);
    expect(await list({ updated_after: '2999-01-01T00:00:00' })).toEqual([]);
    const merged = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'c' }, { scope: 'test', name: 'ds' }, { scope: 'test', name: 'a' }] });
    expect((merged.lines() as Listed[]).map((f) => f.name)).toEqual(['a', 'b', 'c']);
    const badDate = await call(rucio, root, 'POST', '/replicas/list', { dids: [], updated_after: 'yesterday' });
    expect([badDate.status, badDate.headers.get('ExceptionClass')]).toEqual([500, null]);
  });

  it('metalink: every supported scheme, escaped URLs, and a document even when empty', async () => {
    const { rucio, root } = await world();
    const ml = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'a' }] }, { Accept: 'application/metalink4+xml' });
    expect(ml.text.match(/<url /g)).toHaveLength(2);
    expect(ml.text).toContain('<glfn name="/generic/rucio/test:a"></glfn>');
    const empty = await call(rucio, root, 'POST', '/replicas/list', { dids: [] }, { Accept: 'application/metalink4+xml' });
    expect(empty.text).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<metalink xmlns="urn:ietf:params:xml:ns:metalink">\n</metalink>\n');
    const get = await call(rucio, root, 'GET', '/replicas/test/a', undefined, { Accept: 'application/metalink4+xml' });
    expect(get.text).toContain('<glfn name="/atlas/rucio/test:a"></glfn>');
    expect(get.text).toMatch(new RegExp(`<url location="MULTI" priority="[1-3]">davs://x.example.org:443/data/${A}</url>`));
    expect(get.text.match(/<url location="\w+" priority="\d">/g)?.map((u) => u.replace(/.*priority="(\d)".*/, '$1'))).toEqual(['1', '2', '3']);
    const nd = await call(rucio, root, 'GET', '/replicas/test/a?limit=1');
    expect(Object.keys((nd.lines()[0] as Listed).pfns)).toHaveLength(1);
  });
});
