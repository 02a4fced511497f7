/**
 * The Rucio client against the emulator (SQLite-backed, as the recorded server) for the calls of
 * the real-server addenda: declaring replicas bad or suspicious and listing them, what listings then
 * offer, registration batches split after the SQLite limit, missing DIDs, metadata keys that are not
 * columns, a dataset's events, and the rule history the server can answer.
 */
import { describe, expect, it } from 'vitest';
import { BadRequestError, ForbiddenError, MissingDidsError, RucioClient, parseDid } from '../../src/index.js';
import { createRucioEmulator, type RucioEmulatorOptions } from '../../src/testing.js';

async function world(options: RucioEmulatorOptions = {}) {
  const rucio = createRucioEmulator(options);
  rucio.addAccount('alice', { password: 'alicepw' });
  rucio.addScope('test', 'root');
  for (const rse of ['SITE_A', 'SITE_B']) rucio.addRse(rse, { protocols: [{ scheme: 'davs', hostname: `${rse.toLowerCase()}.example.org`, port: 443, prefix: '/rucio/' }] });
  await rucio.seedDataset({ scope: 'test', name: 'ds', rses: ['SITE_A', 'SITE_B'], files: [1, 2, 3].map((i) => ({ name: `f${i}`, content: `file ${i}`, meta: { events: 10 * i } })) });
  const client = (account: string) => new RucioClient({ baseUrl: rucio.baseUrl, account, token: rucio.issueToken(account), fetch: rucio.fetch, retry: { limit: 0 } });
  return { rucio, root: client('root'), alice: client('alice') };
}

const rsesOf = async (c: RucioClient, name: string) => Object.keys((await c.replicas.list([parseDid(`test:${name}`)]).first())?.rses ?? {}).sort();

describe('declaring replicas bad or suspicious', () => {
  it('BAD by DID and RSE: no longer offered by the default listing, BAD with all_states, listed and summarised', async () => {
    const { root } = await world();
    expect(await rsesOf(root, 'f1')).toEqual(['SITE_A', 'SITE_B']);
    expect(await root.replicas.declareBad([{ scope: 'test', name: 'f1', rse: 'SITE_A' }], { reason: 'adler32 mismatch' })).toEqual({});
    expect(await rsesOf(root, 'f1')).toEqual(['SITE_B']);
    const [all] = await root.replicas.list([parseDid('test:f1')], { all_states: true }).toArray();
    expect(all?.states).toEqual({ SITE_A: 'BAD', SITE_B: 'AVAILABLE' });
    expect(await root.replicas.listBad({ state: 'BAD' }).toArray()).toMatchObject([{ scope: 'test', name: 'f1', rse: 'SITE_A', state: 'BAD' }]);
    expect(await root.replicas.badSummary().toArray()).toMatchObject([{ BAD: 1, rse: 'SITE_A', reason: 'adler32 mismatch', created_at: null }]);
    // Again: already declared, unless forced.
    expect(await root.replicas.declareBad([{ scope: 'test', name: 'f1', rse: 'SITE_A' }], { reason: 'again' })).toEqual({ SITE_A: ['test:f1 Already declared'] });
    expect(await root.replicas.declareBad([{ scope: 'test', name: 'f1', rse: 'SITE_A' }], { reason: 'again', force: true })).toEqual({});
    expect(await root.replicas.declareBad([{ scope: 'test', name: 'nope', rse: 'SITE_A' }], { reason: 'r' })).toEqual({ SITE_A: ["(test, 'nope') Unknown replica"] });
  });

  it('only root may declare bad (generic policy): ForbiddenError; anyone may declare suspicious, which stays listed', async () => {
    const { root, alice } = await world();
    await expect(alice.replicas.declareBad([{ scope: 'test', name: 'f2', rse: 'SITE_A' }], { reason: 'r' })).rejects.toBeInstanceOf(ForbiddenError);
    const [rep] = await alice.replicas.list([parseDid('test:f2')], { rse_expression: 'SITE_A' }).toArray();
    const pfn = Object.keys(rep?.pfns ?? {})[0] as string;
    expect(await alice.replicas.declareSuspicious([pfn], { reason: 'read error' })).toEqual({});
    expect(await alice.replicas.declareSuspicious([pfn], { reason: 'read error' })).toEqual({});
    expect(await rsesOf(alice, 'f2')).toEqual(['SITE_A', 'SITE_B']);
    expect(await alice.replicas.listSuspicious({ rse_expression: 'SITE_A' }).toArray()).toMatchObject([{ name: 'f2', rse: 'SITE_A', cnt: 2 }]);
    expect(await alice.replicas.listSuspicious({ nattempts: 2 }).toArray()).toEqual([]);
    expect(await root.replicas.listBad({ state: 'SUSPICIOUS' }).toArray()).toHaveLength(2);
    expect(await alice.replicas.declareSuspicious(['davs://elsewhere.example.org:443/x/y'], { reason: 'r' })).toEqual({ unknown: ['davs://elsewhere.example.org:443/x/y'] });
  });

  it('by DIDs on one RSE (bad/dids), and PFNs queued (bad/pfns) which change nothing yet', async () => {
    const { root } = await world();
    expect(await root.replicas.declareBadDids('SITE_B', [parseDid('test:f3'), parseDid('test:nope')], { reason: 'lost disk' })).toEqual(['test:nope Unknown replica']);
    expect(await rsesOf(root, 'f3')).toEqual(['SITE_A']);
    const [rep] = await root.replicas.list([parseDid('test:f2')], { rse_expression: 'SITE_A' }).toArray();
    await root.replicas.addBadPfns(Object.keys(rep?.pfns ?? {}), { reason: 'disk down', state: 'TEMPORARY_UNAVAILABLE', expires_at: new Date(Date.now() + 3_600_000) });
    expect(await rsesOf(root, 'f2')).toEqual(['SITE_A', 'SITE_B']);
    expect((await root.replicas.listBad().toArray()).map((b) => b.name)).toEqual(['f3']);
  });
});

describe('registration batches on an SQLite-backed server', () => {
  const files = (n: number, prefix = 'n') => Array.from({ length: n }, (_, i) => ({ scope: 'test', name: `${prefix}${i}`, bytes: 1 + i, adler32: (i + 1).toString(16).padStart(8, '0') }));

  it('a batch of 1000 fails with DatabaseException, is split in halves and registered; the default (500) never hits the limit', async () => {
    const { rucio, root } = await world();
    rucio.resetLog();
    await root.replicas.add('SITE_A', files(1200), { batchSize: 1000 });
    expect(rucio.requests.filter((r) => r.path === '/replicas').map((r) => r.status)).toEqual([500, 201, 201, 201]);
    expect([...rucio.fileReplicas()].filter((r) => r.did.name.startsWith('n'))).toHaveLength(1200);
    rucio.resetLog();
    await root.replicas.add('SITE_A', files(1200, 'm'));
    expect(rucio.requests.filter((r) => r.path === '/replicas').map((r) => r.status)).toEqual([201, 201, 201]);
    // Sending the same files again registers nothing twice.
    await root.replicas.add('SITE_A', files(1200, 'm'));
    expect([...rucio.fileReplicas()].filter((r) => r.did.name.startsWith('m'))).toHaveLength(1200);
  });
});

describe('listing DIDs that do not exist', () => {
  it("nothing by default; missing: 'error' names them (an existing empty dataset is not missing)", async () => {
    const { root } = await world();
    await root.dids.addDataset(parseDid('test:empty'));
    expect(await root.replicas.list([parseDid('test:nothere')]).toArray()).toEqual([]);
    const err = await root.replicas.list([parseDid('test:f1'), parseDid('test:nothere'), parseDid('test:empty'), parseDid('nosuchscope:x')], { missing: 'error' }).toArray().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDidsError);
    expect((err as MissingDidsError).dids).toEqual([parseDid('test:nothere'), parseDid('nosuchscope:x')]);
    expect(await root.replicas.list([parseDid('test:ds'), parseDid('test:empty')], { missing: 'error' }).toArray()).toHaveLength(3);
  });
});

describe('metadata and history', () => {
  it('a key that is not a DID column is refused (no JSON plugin on SQLite); events of a file make its dataset\'s', async () => {
    const { root } = await world();
    await expect(root.dids.setMeta(parseDid('test:f1'), { foo_custom: 'bar' })).rejects.toBeInstanceOf(BadRequestError);
    expect((await root.dids.getMeta(parseDid('test:ds'))).events).toBeNull();
    await root.dids.setMeta(parseDid('test:f1'), { events: 100 });
    expect((await root.dids.getMeta(parseDid('test:ds'))).events).toBe(100 + 20 + 30);
  });

  it("a rule's history: its DID's history filtered by rule_id", async () => {
    const { root } = await world();
    const [id] = await root.rules.create({ dids: [parseDid('test:ds')], copies: 1, rse_expression: 'SITE_A' });
    const rows = (await root.rules.didHistory(parseDid('test:ds')).toArray()).filter((h) => h.rule_id === id);
    expect(rows).toMatchObject([{ rule_id: id, rse_expression: 'SITE_A', state: 'OK', locks_ok_cnt: 3 }]);
  });
});
