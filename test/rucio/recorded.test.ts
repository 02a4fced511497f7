/**
 * The Rucio client against the raw responses recorded from a real Rucio server: every parser and
 * every error mapping on the exact bytes, and the requests the client sends compared with the
 * recorded ones.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  DuplicateError,
  NotFoundError,
  RucioClient,
  ServerError,
  UnauthenticatedError,
  parseDid,
  parseRucioDate,
  ruleProgress,
} from '../../src/index.js';

interface WireCall {
  n: number;
  request: { method: string; target: string; body: string | null };
  response: { status: number; headers: [string, string][]; body: string };
}
const calls = JSON.parse(readFileSync(new URL('../fixtures/rucio-wire.json', import.meta.url), 'utf8')) as WireCall[];
const call = (n: number) => calls.find((c) => c.n === n) as WireCall;

interface Sent {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

/** A client whose fetch answers with the recorded responses of the given calls, in order. */
function replay(...ns: number[]) {
  const sent: Sent[] = [];
  let i = 0;
  const client = new RucioClient({
    baseUrl: 'http://127.0.0.1:8080',
    account: 'root',
    token: 'root-ddmlab-unknown-76be82293d404bd0b07a592841e208c5',
    retry: { limit: 0 },
    fetch: async (input) => {
      const req = input as Request;
      const url = new URL(req.url);
      const text = await req.text();
      sent.push({ method: req.method, path: url.pathname, query: url.searchParams, headers: req.headers, body: text ? JSON.parse(text) : undefined });
      const c = call(ns[i++] as number);
      const nullBody = c.response.status === 204 || c.response.status === 304;
      return new Response(nullBody ? null : c.response.body, { status: c.response.status, headers: c.response.headers.map(([k, v]) => [k, v.trim()]) });
    },
  });
  return { client, sent };
}
const recordedBody = (n: number) => JSON.parse(call(n).request.body as string) as unknown;

describe('RucioClient on recorded responses', () => {
  it('#1 ping without a token', async () => {
    const { client, sent } = replay(1);
    expect(await client.ping()).toEqual({ version: '41.0.0rc1' });
    expect(sent[0]!.headers.get('X-Rucio-Auth-Token')).toBeNull();
  });

  it('#2 userpass: token, expiry and account from headers; #3 wrong password', async () => {
    const { client, sent } = replay(2, 3);
    const t = await client.auth.userpass({ username: 'ddmlab', password: 'secret' });
    expect(t).toEqual({ token: 'root-ddmlab-unknown-76be82293d404bd0b07a592841e208c5', expiresAt: new Date('2026-11-25T10:10:10Z'), account: 'root' });
    expect(sent[0]!.headers.get('X-Rucio-Account')).toBe('root');
    expect(sent[0]!.headers.get('X-Rucio-Username')).toBe('ddmlab');
    await expect(client.auth.userpass({ username: 'ddmlab', password: 'wrong' })).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('#4 validate parses the Python repr', async () => {
    const { client } = replay(4);
    const v = await client.auth.validate();
    expect(v).toMatchObject({ account: 'root', identity: 'ddmlab', audience: null, authz_scope: null, vo: 'def' });
    expect(v.lifetime).toEqual(new Date(Date.UTC(2026, 10, 25, 10, 10, 10, 284)));
  });

  it('#5 whoami follows the relative 303 to /accounts/root', async () => {
    const { client, sent } = replay(5, 15);
    const me = await client.accounts.whoami();
    expect(sent.map((s) => s.path)).toEqual(['/accounts/whoami', '/accounts/root']);
    expect(sent[1]!.headers.get('X-Rucio-Auth-Token')).toBe('root-ddmlab-unknown-76be82293d404bd0b07a592841e208c5');
    expect(me.account_type).toBe('USER');
    expect(parseRucioDate(me.created_at)).toEqual(new Date('2026-11-25T09:10:10Z'));
  });

  it('#13 #14 scopes', async () => {
    const { client, sent } = replay(13, 14);
    expect(await client.scopes.list().toArray()).toEqual(['test', 'user.alice']);
    expect(await client.accounts.scopes('alice').toArray()).toEqual(['user.alice']);
    expect(sent.map((s) => s.path)).toEqual(['/scopes/', '/accounts/alice/scopes/']);
  });

  it('#22 #23 RSE listings: full entries, then names for an expression', async () => {
    const { client, sent } = replay(22, 23);
    const all = await client.rses.list().toArray();
    expect(all.map((r) => r.rse).sort()).toEqual(['SITE_A', 'SITE_B', 'SITE_ND']);
    expect(all[0]).toHaveProperty('availability', 7); // unknown fields kept
    expect(await client.rses.list('SITE_A|SITE_B').toArray()).toEqual([{ rse: 'SITE_B' }, { rse: 'SITE_A' }]);
    expect(sent[1]!.query.get('expression')).toBe('SITE_A|SITE_B');
    expect(sent[0]!.headers.get('Accept')).toBe('application/x-json-stream');
  });

  it('#24 #25 #26 #27 RSE settings, protocols, attributes, unknown RSE', async () => {
    const { client } = replay(24, 25, 26, 27);
    const s = await client.rses.get('SITE_A');
    expect(s.lfn2pfn_algorithm).toBe('hash');
    expect(s.protocols[0]).toMatchObject({ scheme: 'file', hostname: 'localhost' });
    expect((await client.rses.protocols('SITE_B'))[0]).toMatchObject({ scheme: 'davs', port: 443, prefix: '/rucio/site_b/' });
    expect(await client.rses.attributes('SITE_A')).toEqual({ SITE_A: true });
    const err = await client.rses.get('NOPE').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).exceptionClass).toBe('RSENotFound');
  });

  it('#32 #33 add a dataset, then the duplicate', async () => {
    const { client, sent } = replay(32, 33);
    await client.dids.addDataset(parseDid('test:dataset1'));
    expect(sent[0]).toMatchObject({ method: 'POST', path: '/dids/test/dataset1', body: { type: 'DATASET' } });
    await expect(client.dids.addDataset(parseDid('test:dataset1'))).rejects.toBeInstanceOf(DuplicateError);
  });

  it('#34 #35 #36 #37 register replicas and attach: bodies as recorded', async () => {
    const { client, sent } = replay(34, 35, 36, 37);
    const files = [1, 2, 3].map((i) => ({ scope: 'test', name: `file${i}`, bytes: 1500 * i, adler32: ['8dc1fca8', '6aecfa26', '75abf86c'][i - 1]!, meta: { events: 10 * i } }));
    await client.replicas.add('SITE_A', files, { ignore_availability: true });
    expect(sent[0]!.body).toEqual(recordedBody(34));
    const err = await client.replicas.add('SITE_ND', [{ scope: 'test', name: 'ndfile1', bytes: 10, adler32: '0aff020e' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).exceptionClass).toBe('UnsupportedOperation');
    await client.replicas.add('SITE_ND', [{ scope: 'test', name: 'ndfile1', bytes: 10, adler32: '0aff020e', pfn: 'https://storage-nd.example.org:443/nd/some/where/ndfile1' }]);
    expect(sent[2]!.body).toEqual(recordedBody(36));
    await client.dids.attach(parseDid('test:dataset1'), [1, 2, 3].map((i) => parseDid(`test:file${i}`)));
    expect(sent[3]!.body).toEqual(recordedBody(37));
  });

  it('#38 #39 #40 DID details and a missing DID', async () => {
    const { client } = replay(38, 39, 40);
    expect(await client.dids.get(parseDid('test:dataset1'))).toMatchObject({ type: 'DATASET', open: true, bytes: null });
    expect(await client.dids.get(parseDid('test:file1'))).toMatchObject({ type: 'FILE', bytes: 1500, adler32: '8dc1fca8', md5: null });
    const err = await client.dids.get(parseDid('test:nothere')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('DataIdentifierNotFound');
  });

  it('#41 #42 #50 content, files, parents', async () => {
    const { client } = replay(41, 42, 50);
    expect((await client.dids.content(parseDid('test:dataset1')).toArray()).map((c) => c.name)).toEqual(['file1', 'file2', 'file3']);
    expect((await client.dids.files(parseDid('test:dataset1')).toArray()).map((f) => [f.name, f.bytes, f.events])).toEqual([
      ['file1', 1500, 10],
      ['file2', 3000, 20],
      ['file3', 4500, 30],
    ]);
    expect(await client.dids.parents(parseDid('test:file1')).toArray()).toEqual([{ scope: 'test', name: 'dataset1', type: 'DATASET' }]);
  });

  it('#43 #44 #45 #46 #47 search: names, long, name pattern, filters, unknown scope', async () => {
    const { client, sent } = replay(43, 44, 45, 46, 47);
    expect(await client.dids.search('test', { type: 'all' }).toArray()).toEqual(['dataset1', 'file1', 'file2', 'file3', 'ndfile1']);
    expect(await client.dids.search('test', { type: 'dataset', long: true }).toArray()).toEqual([{ scope: 'test', name: 'dataset1', did_type: 'DATASET', bytes: null, length: null }]);
    expect(await client.dids.search('test', { type: 'file', name: 'file*' }).toArray()).toEqual(['file1', 'file2', 'file3']);
    expect(sent[2]!.query.get('name')).toBe('file*');
    expect(await client.dids.search('test', { type: 'all', filters: { name: 'file*', events: { gte: 20 } } }).toArray()).toEqual(['file2', 'file3']);
    expect(sent[3]!.query.get('filters')).toBe("[{'name': 'file*', 'events.gte': 20}]");
    expect(await client.dids.search('nosuchscope', { type: 'all' }).toArray()).toEqual([]);
  });

  it('#48 #49 metadata', async () => {
    const { client } = replay(48, 49);
    expect(await client.dids.getMeta(parseDid('test:dataset1'))).toMatchObject({ name: 'dataset1', did_type: 'DATASET', is_open: true });
    expect(await client.dids.getMeta(parseDid('test:file1'))).toMatchObject({ name: 'file1', adler32: '8dc1fca8' });
  });

  it('#51 #52 #54 #72 replica listings', async () => {
    const { client, sent } = replay(51, 52, 54, 72);
    const ds = await client.replicas.list([parseDid('test:dataset1')]).toArray();
    expect(ds.map((r) => r.name)).toEqual(['file1', 'file2', 'file3']);
    expect(ds[0]!.states).toEqual({ SITE_A: 'AVAILABLE' });
    expect(sent[0]).toMatchObject({ method: 'POST', path: '/replicas/list', body: { dids: [{ scope: 'test', name: 'dataset1' }] } });
    expect(sent[0]!.headers.get('Accept')).toBe('application/x-json-stream');
    const one = await client.replicas.list([parseDid('test:file1')], { schemes: ['file'] }).toArray();
    expect(sent[1]!.body).toEqual(recordedBody(52));
    expect(Object.keys(one[0]!.pfns)).toEqual(['file://localhost/rucio/SITE_A/test/80/25/file1']);
    expect(await client.replicas.list([parseDid('test:nothere')]).toArray()).toEqual([]);
    const two = await client.replicas.list([parseDid('test:dataset1')]).toArray();
    expect(two.every((r) => Object.keys(r.rses).length === 2)).toBe(true);
    const best = Object.entries(two[0]!.pfns).find(([, p]) => p.priority === 1);
    expect(best?.[1].rse).toBe('SITE_B');
  });

  it('#55 empty dataset replicas', async () => {
    const { client } = replay(55);
    expect(await client.replicas.datasetReplicas(parseDid('test:dataset1')).toArray()).toEqual([]);
  });

  it('#56 #57 #60 #61 create rules (ids from a text/html body), get, duplicates and bad expressions', async () => {
    const { client, sent } = replay(56, 57, 60, 61);
    const ids = await client.rules.create({ dids: [parseDid('test:dataset1')], copies: 1, rse_expression: 'SITE_A', comment: 'probe rule A' });
    expect(ids).toEqual(['061ee475925e4b1a84e846b875167083']);
    // The Python client's defaults, account from the client.
    expect(sent[0]!.body).toMatchObject({ ...(recordedBody(56) as object), notify: 'N', priority: 3, purge_replicas: false, ask_approval: false });
    const rule = await client.rules.get(ids[0]!);
    expect(ruleProgress(rule)).toMatchObject({ state: 'OK', ok: 3, total: 3, fraction: 1 });
    expect(await client.rules.create({ dids: [parseDid('test:dataset1')], copies: 1, rse_expression: 'SITE_B' }).catch((e: unknown) => e)).toBeInstanceOf(DuplicateError);
    const bad = await client.rules.create({ dids: [parseDid('test:dataset1')], copies: 1, rse_expression: 'NOWHERE' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConflictError);
    expect((bad as ConflictError).exceptionClass).toBe('InvalidRSEExpression');
  });

  it('#62 #63 #64 rules of a DID, locks, filtered list', async () => {
    const { client, sent } = replay(62, 63, 64);
    expect((await client.dids.rules(parseDid('test:dataset1')).toArray()).length).toBeGreaterThanOrEqual(2);
    const locks = await client.rules.locks('e661676a22c64fd491eae4cab9c611f6').toArray();
    expect(locks.map((l) => [l.name, l.rse, l.state])).toEqual([
      ['file1', 'SITE_B', 'REPLICATING'],
      ['file2', 'SITE_B', 'REPLICATING'],
      ['file3', 'SITE_B', 'REPLICATING'],
    ]);
    const listed = await client.rules.list({ scope: 'test', name: 'dataset1' }).toArray();
    expect(listed.every((r) => r.name === 'dataset1')).toBe(true);
    expect(sent[2]!.path).toBe('/rules/');
  });

  it('#69 #70 #73 #81 #82 state update with letters, close, delete with a body', async () => {
    const { client, sent } = replay(69, 70, 73, 81, 82);
    await client.replicas.updateState('SITE_B', [1, 2, 3].map((i) => ({ scope: 'test', name: `file${i}`, state: 'AVAILABLE' as const })));
    expect(sent[0]!.body).toEqual(recordedBody(69));
    expect((await client.rules.get('e661676a22c64fd491eae4cab9c611f6')).state).toBe('OK');
    await client.dids.close(parseDid('test:dataset1'));
    expect(sent[2]).toMatchObject({ method: 'PUT', path: '/dids/test/dataset1/status', body: { open: false } });
    await client.rules.delete('bcb4e562aa6540c7bb05e69acd2f1a6a');
    expect(sent[3]!.body).toEqual(recordedBody(81));
    const after = await client.rules.get('bcb4e562aa6540c7bb05e69acd2f1a6a');
    expect(parseRucioDate(after.expires_at)).toBeInstanceOf(Date);
  });
});
