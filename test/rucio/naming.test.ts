/**
 * One naming rule: what goes to Rucio is spelled as on the wire (`rse_expression`, `all_states`, …).
 * The camelCase spellings earlier versions took (`rseExpression`, `allStates`, …) are deprecated
 * aliases that must keep working until they are removed: each call made both ways must send the
 * very same request, and a call that spells one option both ways with different values is refused.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, RucioClient, parseDid } from '../../src/index.js';

interface Sent {
  method: string;
  url: string;
  body: unknown;
}

/** A client whose requests are recorded and answered like Rucio answers them (empty listings, 201 Created). */
function recording(): { client: RucioClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = await request.text();
    const url = new URL(request.url);
    sent.push({ method: request.method, url: `${url.pathname}?${[...url.searchParams].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join('&')}`, body: text ? JSON.parse(text) : undefined });
    if (url.pathname.endsWith('/replicas/suspicious')) return new Response('[]', { headers: { 'Content-Type': 'application/json' } });
    if (request.method === 'POST' && !url.pathname.endsWith('/replicas/list')) return new Response('Created', { status: 201 });
    if (request.method === 'DELETE') return new Response('OK', { status: 200 });
    return new Response('', { headers: { 'Content-Type': 'application/x-json-stream' } });
  }) as typeof globalThis.fetch;
  return { client: new RucioClient({ baseUrl: 'https://rucio.naming.test/', account: 'jdoe', token: 'tok-abcdef', fetch: fetchImpl, retry: { limit: 0 } }), sent };
}

/** The requests one call sends. */
async function requestsOf(call: (client: RucioClient) => Promise<unknown>): Promise<Sent[]> {
  const { client, sent } = recording();
  await call(client);
  return sent;
}

const dids = [parseDid('test:f1'), parseDid('test:f2')];
const when = new Date('2026-11-20T10:11:12Z');
const file = { scope: 'test', name: 'f1', bytes: 3, adler32: '024d0127' };

const cases: { call: string; wire: (c: RucioClient) => Promise<unknown>; camel: (c: RucioClient) => Promise<unknown>; expect: (sent: Sent[]) => void }[] = [
  {
    call: 'replicas.list',
    wire: (c) =>
      c.replicas
        .list(dids, { rse_expression: 'SITE_A', all_states: true, ignore_availability: true, client_location: { site: 'CERN' }, resolve_parents: true, resolve_archives: false, signature_lifetime: 600, updated_after: when })
        .toArray(),
    camel: (c) =>
      c.replicas.list(dids, { rseExpression: 'SITE_A', allStates: true, ignoreAvailability: true, clientLocation: { site: 'CERN' }, resolveParents: true, resolveArchives: false, signatureLifetime: 600, updatedAfter: when }).toArray(),
    expect: ([r]) =>
      expect(r!.body).toMatchObject({
        rse_expression: 'SITE_A',
        all_states: true,
        ignore_availability: true,
        client_location: { site: 'CERN' },
        resolve_parents: true,
        resolve_archives: false,
        signature_lifetime: 600,
        updated_after: '2026-11-20T10:11:12',
      }),
  },
  {
    call: 'replicas.add',
    wire: (c) => c.replicas.add('SITE_A', [file], { ignore_availability: true }),
    camel: (c) => c.replicas.add('SITE_A', [file], { ignoreAvailability: true }),
    expect: ([r]) => expect(r!.body).toMatchObject({ rse: 'SITE_A', ignore_availability: true }),
  },
  {
    call: 'replicas.delete',
    wire: (c) => c.replicas.delete('SITE_A', dids, { ignore_availability: true }),
    camel: (c) => c.replicas.delete('SITE_A', dids, { ignoreAvailability: true }),
    expect: ([r]) => expect(r!.body).toMatchObject({ rse: 'SITE_A', ignore_availability: true }),
  },
  {
    call: 'replicas.addBadPfns',
    wire: (c) => c.replicas.addBadPfns(['davs://se.test/a'], { reason: 'down', state: 'TEMPORARY_UNAVAILABLE', expires_at: when }),
    camel: (c) => c.replicas.addBadPfns(['davs://se.test/a'], { reason: 'down', state: 'TEMPORARY_UNAVAILABLE', expiresAt: when }),
    expect: ([r]) => expect(r!.body).toMatchObject({ expires_at: '2026-11-20T10:11:12.000000' }),
  },
  {
    call: 'replicas.listBad',
    wire: (c) => c.replicas.listBad({ rse: 'SITE_A', younger_than: when, older_than: when }).toArray(),
    camel: (c) => c.replicas.listBad({ rse: 'SITE_A', youngerThan: when, olderThan: when }).toArray(),
    expect: ([r]) => expect(r!.url).toContain('older_than=2026-11-20T10:11:12.000000&rse=SITE_A&younger_than=2026-11-20T10:11:12.000000'),
  },
  {
    call: 'replicas.badSummary',
    wire: (c) => c.replicas.badSummary({ rse_expression: 'SITE_A', from_date: when, to_date: when }).toArray(),
    camel: (c) => c.replicas.badSummary({ rseExpression: 'SITE_A', fromDate: when, toDate: when }).toArray(),
    expect: ([r]) => expect(r!.url).toContain('from_date=2026-11-20&rse_expression=SITE_A&to_date=2026-11-20'),
  },
  {
    call: 'replicas.listSuspicious',
    wire: (c) => c.replicas.listSuspicious({ rse_expression: 'SITE_A', younger_than: when }).toArray(),
    camel: (c) => c.replicas.listSuspicious({ rseExpression: 'SITE_A', youngerThan: when }).toArray(),
    expect: ([r]) => expect(r!.url).toContain('rse_expression=SITE_A&younger_than=2026-11-20T10:11:12'),
  },
];

describe('Rucio parameters: the wire spelling, and the deprecated camelCase alias', () => {
  for (const c of cases) {
    it(`${c.call}: both spellings send the same request, spelled as on the wire`, async () => {
      const wire = await requestsOf(c.wire);
      const camel = await requestsOf(c.camel);
      expect(wire.length).toBeGreaterThan(0);
      expect(camel).toEqual(wire);
      c.expect(wire);
      expect(JSON.stringify(wire)).not.toMatch(/rseExpression|allStates|ignoreAvailability|clientLocation|resolveParents|resolveArchives|signatureLifetime|updatedAfter|expiresAt|youngerThan|olderThan|fromDate|toDate/);
    });
  }

  it('accepts both spellings of one option when they agree, and refuses them when they disagree', async () => {
    expect(await requestsOf((c) => c.replicas.list(dids, { rse_expression: 'SITE_A', rseExpression: 'SITE_A' }).toArray())).toEqual(await requestsOf((c) => c.replicas.list(dids, { rse_expression: 'SITE_A' }).toArray()));
    const { client, sent } = recording();
    expect(() => client.replicas.list(dids, { rse_expression: 'SITE_A', rseExpression: 'SITE_B' })).toThrow(InvalidArgumentError);
    await expect(client.replicas.addBadPfns(['davs://se.test/a'], { reason: 'r', state: 'TEMPORARY_UNAVAILABLE', expires_at: when, expiresAt: new Date(0) })).rejects.toThrow(/"expires_at" and its deprecated alias "expiresAt" disagree/);
    expect(sent).toEqual([]);
  });
});
