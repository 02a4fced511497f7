import fc from 'fast-check';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  DlaasError,
  InvalidArgumentError,
  InvalidDidError,
  RuleNotProgressingError,
  RuleStuckError,
  RucioClient,
  StreamError,
  encodeDidFilters,
  parseDid,
  parsePythonLiteral,
  protocolsFor,
  toPythonLiteral,
  type Rule,
} from '../../src/index.js';

const BASE = 'https://rucio.unit.test/';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());
const client = () => new RucioClient({ baseUrl: BASE, account: 'jdoe', token: 'tok-abcdef', retry: { limit: 0 } });

const ruleDoc = (over: Partial<Rule>): Rule =>
  ({
    id: 'a'.repeat(32),
    account: 'jdoe',
    scope: 'test',
    name: 'ds',
    did_type: 'DATASET',
    state: 'REPLICATING',
    rse_expression: 'SITE_B',
    copies: 1,
    locked: false,
    locks_ok_cnt: 0,
    locks_replicating_cnt: 3,
    locks_stuck_cnt: 0,
    grouping: 'DATASET',
    error: null,
    ...over,
  }) as Rule;

describe('DID search filters', () => {
  it('encodes groups as a Python literal with operator suffixes', () => {
    expect(encodeDidFilters({ name: 'file*', events: { gte: 20, lt: 100 } })).toBe("[{'name': 'file*', 'events.gte': 20, 'events.lt': 100}]");
    expect(encodeDidFilters([{ datatype: 'MS' }, { datatype: 'FITS', hidden: false, run: null }])).toBe("[{'datatype': 'MS'}, {'datatype': 'FITS', 'hidden': False, 'run': None}]");
    expect(encodeDidFilters({ created_at: { gt: new Date('2026-01-02T03:04:05Z') }, k: { ne: "it's" } })).toBe(`[{'created_at.gt': '2026-01-02T03:04:05', 'k.ne': "it's"}]`);
  });

  it('rejects bad filters with a typed error naming the key', () => {
    const bad: [unknown, RegExp][] = [
      [{ 'bad key': 1 }, /not a valid metadata key/],
      [{ k: { between: 1 } }, /unknown operator "between"/],
      [{ k: { gt: 'x' } }, /needs a number or a Date/],
      [{ k: {} }, /no operator/],
      [{ k: Number.NaN }, /unsupported value/],
      [[], /empty list/],
    ];
    for (const [f, re] of bad) {
      const err = (() => {
        try {
          encodeDidFilters(f as never);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('round-trips through the Python literal parser (what literal_eval sees)', () => {
    const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), value, { minKeys: 1 }), { minLength: 1, maxLength: 3 }), (groups) => {
        expect(parsePythonLiteral(encodeDidFilters(groups))).toEqual(groups);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('Python literals', () => {
  it('parses what /auth/validate returns and rejects garbage with a typed error', () => {
    expect(parsePythonLiteral("{'a': None, 'b': True, 'c': [1, 2.5, -3], 't': (1, 'x'), 's': \"it's\\n\"}")).toEqual({ a: null, b: true, c: [1, 2.5, -3], t: [1, 'x'], s: "it's\n" });
    for (const bad of ['{', "{'a' 1}", "'unterminated", 'object()', '{}}', "'\\q'"]) {
      expect(() => parsePythonLiteral(bad), bad).toThrow(DlaasError);
    }
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parsePythonLiteral(s);
        } catch (e) {
          expect(e).toBeInstanceOf(DlaasError);
        }
      }),
      { numRuns: 3000 },
    );
    expect(toPythonLiteral({ x: [true, null, 'a\\b'] })).toBe("{'x': [True, None, 'a\\\\b']}");
  });
});

describe('replicas.list batching', () => {
  it('splits large DID sets into several POST /replicas/list calls and streams them in order', async () => {
    const bodies: { dids: { name: string }[] }[] = [];
    server.use(
      http.post(`${BASE}replicas/list`, async ({ request }) => {
        const body = (await request.json()) as { dids: { scope: string; name: string }[] };
        bodies.push(body);
        const lines = body.dids.map((d) => JSON.stringify({ scope: d.scope, name: d.name, bytes: 1, md5: null, adler32: '00000001', pfns: {}, rses: {} })).join('\n');
        return new HttpResponse(lines ? `${lines}\n` : '', { headers: { 'Content-Type': 'application/x-json-stream' } });
      }),
    );
    const dids = Array.from({ length: 1234 }, (_, i) => parseDid(`test:f${i}`));
    const names = (await client().replicas.list(dids, { batchSize: 500, schemes: ['davs'] }).toArray()).map((r) => r.name);
    expect(bodies.map((b) => b.dids.length)).toEqual([500, 500, 234]);
    expect(bodies[0]).toMatchObject({ schemes: ['davs'] });
    expect(names).toEqual(dids.map((d) => d.name));
  });

  it('reports a malformed server line as a StreamError naming the line', async () => {
    server.use(http.post(`${BASE}replicas/list`, () => new HttpResponse('{"scope": "test", "name": "f", "bytes": 1, "pfns": {}, "rses": {}}\n{"scope": "test", "name": 5}\n', { headers: { 'Content-Type': 'application/x-json-stream' } })));
    const err = await client().replicas.list([parseDid('test:f')]).toArray().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DlaasError);
    expect((err as Error).message).toMatch(/line 2/);
    server.use(http.post(`${BASE}replicas/list`, () => new HttpResponse('{"scope": "test", "na', { headers: { 'Content-Type': 'application/x-json-stream' } })));
    expect(await client().replicas.list([parseDid('test:f')]).toArray().catch((e: unknown) => e)).toBeInstanceOf(StreamError);
  });

  it('validates input before sending anything', async () => {
    const c = client();
    expect(() => c.replicas.list([{ scope: 'bad scope', name: 'x' }])).toThrow(InvalidDidError);
    await expect(c.replicas.add('SITE_A', [{ scope: 'test', name: 'f', bytes: -1, adler32: '00000001' }])).rejects.toThrow(/bytes/);
    await expect(c.replicas.add('SITE_A', [{ scope: 'test', name: 'f', bytes: 1, adler32: 'xyz' }])).rejects.toThrow(/adler32/);
    await expect(c.replicas.updateState('SITE_A', [{ scope: 'test', name: 'f', state: 'GONE' as never }])).rejects.toThrow(/unknown replica state "GONE"/);
    expect(() => c.rules.create({ dids: [], copies: 1, rse_expression: 'X' })).toThrow(/at least one DID/);
    expect(() => c.rules.get('not-an-id')).toThrow(/32 hex digits/);
    expect(() => c.rses.get('lower_case')).toThrow(InvalidArgumentError);
    expect(() => c.dids.search('bad scope!')).toThrow(/Invalid scope/);
    expect(() => c.rules.list({ state: 'DONE' as never })).toThrow(/unknown state "DONE"/);
  });
});

describe('rules.waitFor', () => {
  it('polls with backoff, reports progress and resolves on OK', async () => {
    const states = [ruleDoc({}), ruleDoc({ locks_ok_cnt: 1, locks_replicating_cnt: 2 }), ruleDoc({ state: 'OK', locks_ok_cnt: 3, locks_replicating_cnt: 0 })];
    let i = 0;
    server.use(http.get(`${BASE}rules/${'a'.repeat(32)}`, () => HttpResponse.json(states[Math.min(i++, 2)])));
    const seen: number[] = [];
    const rule = await client().rules.waitFor('a'.repeat(32), { pollInterval: 5, onProgress: (p) => seen.push(p.ok) });
    expect(rule.state).toBe('OK');
    expect(seen).toEqual([0, 1, 3]);
  });

  it('rejects with RuleStuckError listing the stuck locks', async () => {
    server.use(
      http.get(`${BASE}rules/${'b'.repeat(32)}`, () => HttpResponse.json(ruleDoc({ id: 'b'.repeat(32), state: 'STUCK', locks_ok_cnt: 2, locks_replicating_cnt: 0, locks_stuck_cnt: 1, error: 'transfer failed' }))),
      http.get(`${BASE}rules/${'b'.repeat(32)}/locks`, () =>
        new HttpResponse(
          [
            { scope: 'test', name: 'f1', rse_id: 'x', rse: 'SITE_B', state: 'OK', rule_id: 'b'.repeat(32) },
            { scope: 'test', name: 'f2', rse_id: 'x', rse: 'SITE_B', state: 'STUCK', rule_id: 'b'.repeat(32) },
          ]
            .map((l) => JSON.stringify(l))
            .join('\n'),
          { headers: { 'Content-Type': 'application/x-json-stream' } },
        ),
      ),
    );
    const err = (await client().rules.waitFor('b'.repeat(32), { pollInterval: 5 }).catch((e: unknown) => e)) as RuleStuckError;
    expect(err).toBeInstanceOf(RuleStuckError);
    expect(err.stuckLocks).toEqual([{ scope: 'test', name: 'f2', rse: 'SITE_B', state: 'STUCK' }]);
    expect(err.message).toContain('transfer failed');
  });

  it('rejects SUSPENDED / WAITING_APPROVAL rules, and stops on abort', async () => {
    server.use(http.get(`${BASE}rules/${'c'.repeat(32)}`, () => HttpResponse.json(ruleDoc({ id: 'c'.repeat(32), state: 'WAITING_APPROVAL' }))));
    await expect(client().rules.waitFor('c'.repeat(32))).rejects.toBeInstanceOf(RuleNotProgressingError);
    server.use(http.get(`${BASE}rules/${'d'.repeat(32)}`, () => HttpResponse.json(ruleDoc({ id: 'd'.repeat(32) }))));
    // A pause of a day between polls: only an abort that interrupts it can end the wait. It comes a
    // macrotask after the first poll's progress, when the pause has begun.
    const ac = new AbortController();
    let polls = 0;
    await expect(client().rules.waitFor('d'.repeat(32), { pollInterval: 86_400_000, signal: ac.signal, onProgress: () => void (polls++, setTimeout(() => ac.abort(), 0)) })).rejects.toBeInstanceOf(AbortError);
    expect(polls).toBe(1);
  });
});

describe('PFNs', () => {
  const settings = {
    protocols: [
      { scheme: 'root', hostname: 'h', port: 1094, prefix: '/x', domains: { wan: { read: 2, write: 2, delete: 2 } } },
      { scheme: 'davs', hostname: 'storage-b.example.org', port: 443, prefix: '/rucio/site_b/', domains: { wan: { read: 1, write: 1, delete: 1 }, lan: { read: null, write: null } } },
    ],
  };
  it('orders protocols by priority and drops disabled ones', () => {
    expect(protocolsFor(settings as never, 'read').map((p) => p.scheme)).toEqual(['davs', 'root']);
    expect(protocolsFor(settings as never, 'read', 'lan')).toEqual([]);
    expect(protocolsFor(settings as never, 'write', 'wan', ['root']).map((p) => p.scheme)).toEqual(['root']);
  });

  it('computes deterministic PFNs client-side exactly as the recorded server did', async () => {
    const pfns = await client().rses.pfns('SITE_B', [parseDid('test:file1'), parseDid('test:file2'), parseDid('test:file3')], {
      settings: { ...settings, id: 'x', rse: 'SITE_B', rse_type: 'DISK', deterministic: true, volatile: false, lfn2pfn_algorithm: 'hash' } as never,
    });
    expect(pfns).toEqual({
      'test:file1': 'davs://storage-b.example.org:443/rucio/site_b/test/80/25/file1',
      'test:file2': 'davs://storage-b.example.org:443/rucio/site_b/test/f3/14/file2',
      'test:file3': 'davs://storage-b.example.org:443/rucio/site_b/test/a9/23/file3',
    });
    const user = await client().rses.pfns('SITE_B', [parseDid('user.jdoe:f.txt')], { settings: { ...settings, deterministic: true, lfn2pfn_algorithm: 'identity' } as never });
    expect(user['user.jdoe:f.txt']).toBe('davs://storage-b.example.org:443/rucio/site_b/user/jdoe/f.txt');
  });

  it('asks the server for non-deterministic or custom algorithms', async () => {
    let query = '';
    server.use(http.get(`${BASE}rses/SITE_ND/lfns2pfns`, ({ request }) => ((query = new URL(request.url).search), HttpResponse.json({ 'test:f': 'https://nd/f' }))));
    const pfns = await client().rses.pfns('SITE_ND', [parseDid('test:f')], { settings: { ...settings, deterministic: false } as never });
    expect(pfns).toEqual({ 'test:f': 'https://nd/f' });
    expect(query).toBe('?lfn=test%3Af&scheme=davs&domain=wan&operation=write');
  });
});
