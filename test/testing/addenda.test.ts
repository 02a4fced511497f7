/**
 * The Rucio calls of the real-server addenda (test/fixtures/real-server-addenda.json, calls 1–40),
 * replayed in order against an emulator seeded as the recorded server was (section 0 and the
 * seeding of section 2, over REST), and compared with the recorded answers: status, Rucio's
 * headers, Content-Length, and the body byte for byte. Covers the rule-id history URL that the
 * DID-history route takes (400 ValueError), bad and suspicious replicas and how listings show
 * them, metadata keys that are not DID columns on SQLite (400 InvalidMetadata, plugin JSON/ALL 500),
 * a dataset's `events` recomputed from its files, the 997-file registration limit of SQLite, and
 * replica listings of DIDs that do not exist (200, empty).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRucioEmulator, type RucioEmulator } from '../../src/testing.js';
import { call } from './helpers.js';

interface AddendaCall {
  n: number;
  title: string;
  request: { method: string; target: string; headers: [string, string][]; body: string | null; bodyTruncated?: boolean };
  response: { status: number; headers: [string, string][]; body: string; bodyBytes: number };
}

const ADDENDA = new Map((JSON.parse(readFileSync(new URL('../fixtures/real-server-addenda.json', import.meta.url), 'utf8')) as AddendaCall[]).map((c) => [c.n, c]));
const RECORDED_TOKEN = 'root-ddmlab-unknown-1bbc4bfdb1314e03ba8cebc6bd7ddbfd';
const RECORDED_RULE = '458527a751ca42759b9c6487e078d578';
const SITE_A_ID = '9cd775361458438bbbdc01c8305eeb92';
/** Headers of the HTTP server rather than of Rucio (Content-Length is compared on its own). */
const TRANSPORT = new Set(['server', 'date', 'connection', 'transfer-encoding', 'content-length']);
/**
 * `GET …/meta` (DID_COLUMN): the recorded server's SQLAlchemy lists the columns in another order than
 * the server of rucio-wire.json (which the emulator follows); keys, values and length must match.
 */
const KEY_ORDER_ONLY = new Set([24, 28, 31, 32]);

/** The full body of the 996/997/998-file registrations (the addenda show their first 300 bytes). */
function registrationBody(n: number): string {
  const files = Array.from({ length: n }, (_, i) => `{"scope": "test", "name": "n${n}_${String(i).padStart(4, '0')}", "bytes": ${1000 + i}, "adler32": "${(i + 1).toString(16).padStart(8, '0')}"}`);
  return `{"rse": "SITE_A", "files": [${files.join(', ')}], "ignore_availability": true}`;
}

/** An emulator in the state of the addenda's server after its seeding calls (section 0, then section 2's). */
async function addendaWorld(): Promise<{ rucio: RucioEmulator; token: string; ruleId: string; at: (t: string) => void }> {
  let now = new Date('2026-12-02T16:57:46Z');
  const rucio = createRucioEmulator({ now: () => now });
  const token = rucio.issueToken('root');
  const post = async (path: string, body: unknown) => {
    const r = await call(rucio, token, 'POST', path, body);
    expect(r.status, `${path}: ${r.text}`).toBe(201);
    return r;
  };
  rucio.addScope('test', 'root');
  rucio.addRse('SITE_A', {
    id: SITE_A_ID,
    protocols: [{ scheme: 'file', hostname: 'localhost', port: 0, prefix: '/rucio/SITE_A/', impl: 'rucio.rse.protocols.posix.Default', domains: { lan: { read: 1, write: 1, delete: 1 }, wan: { read: 1, write: 1, delete: 1, third_party_copy_read: 1, third_party_copy_write: 1 } } }],
  });
  await post('/dids/test/dataset1', { type: 'DATASET' });
  const sums = ['8dc1fca8', '6aecfa26', '75abf86c'];
  await post('/replicas', { rse: 'SITE_A', files: [1, 2, 3].map((i) => ({ scope: 'test', name: `file${i}`, bytes: 1500 * i, adler32: sums[i - 1], meta: { events: 10 * i } })), ignore_availability: true });
  await post('/dids/test/dataset1/dids', { dids: [1, 2, 3].map((i) => ({ scope: 'test', name: `file${i}` })) });
  const rule = await post('/rules/', { dids: [{ scope: 'test', name: 'dataset1' }], copies: 1, rse_expression: 'SITE_A', account: 'root', grouping: 'DATASET', lifetime: null, weight: null, locked: false, comment: 'addenda rule' });
  const [ruleId] = rule.json() as string[];
  now = new Date('2026-12-02T16:57:47Z');
  await post('/replicas', { rse: 'SITE_A', files: [1, 2, 3, 4, 5].map((i) => ({ scope: 'test', name: `bad${i}`, bytes: 1000 * i, adler32: `0000000${i}` })), ignore_availability: true });
  return { rucio, token, ruleId: ruleId as string, at: (t) => (now = new Date(t)) };
}

async function replay(rucio: RucioEmulator, c: AddendaCall, map: (s: string) => string): Promise<{ res: Response; body: string }> {
  const headers = new Headers();
  for (const [k, v] of c.request.headers) if (!['host', 'connection', 'content-length'].includes(k.toLowerCase())) headers.append(k, map(v));
  const body = c.request.bodyTruncated ? registrationBody(Number(/with (\d+) files/.exec(c.title)?.[1])) : c.request.body;
  const init: RequestInit = { method: c.request.method, headers, ...(body !== null ? { body: map(body) } : {}) };
  const res = await rucio.handle(new Request(`http://127.0.0.1:36465${map(c.request.target)}`, init));
  return { res, body: await res.text() };
}

describe('real-server addenda, Rucio calls 1–40, replayed on the emulator', () => {
  it('reconstructs the elided registration bodies exactly (their recorded Content-Length)', () => {
    for (const n of [33, 34, 35]) {
      const c = ADDENDA.get(n) as AddendaCall;
      const body = registrationBody(Number(/with (\d+) files/.exec(c.title)?.[1]));
      expect(body.startsWith(c.request.body as string)).toBe(true);
      expect(String(new TextEncoder().encode(body).byteLength)).toBe(c.request.headers.find(([k]) => k === 'Content-Length')?.[1]);
    }
  });

  it('answers every call as the recorded server did: status, headers, Content-Length, bytes', async () => {
    const { rucio, token, ruleId, at } = await addendaWorld();
    const map = (s: string) => s.split(RECORDED_TOKEN).join(token).split(RECORDED_RULE).join(ruleId);
    const mismatches: string[] = [];
    for (let n = 1; n <= 40; n++) {
      const c = ADDENDA.get(n) as AddendaCall;
      if (n === 31) at('2026-12-02T16:57:48Z'); // the recorded clock moved on a second here
      const { res, body } = await replay(rucio, c, map);
      const where = `#${n} ${c.title}`;
      if (res.status !== c.response.status) mismatches.push(`${where}: status ${res.status} != ${c.response.status} (${body.slice(0, 300)})`);
      const expected = new Map<string, string>();
      for (const [k, v] of c.response.headers) if (!TRANSPORT.has(k.toLowerCase())) expected.set(k.toLowerCase(), map(v).trim());
      for (const [key, value] of expected) if (res.headers.get(key) !== value) mismatches.push(`${where}: header ${key}: ${String(res.headers.get(key))} != ${value}`);
      const recordedLength = c.response.headers.find(([k]) => k === 'Content-Length')?.[1];
      if (res.headers.get('content-length') !== (recordedLength ?? null)) mismatches.push(`${where}: content-length ${String(res.headers.get('content-length'))} != ${String(recordedLength)}`);
      const want = map(c.response.body);
      if (KEY_ORDER_ONLY.has(n)) {
        const got = JSON.parse(body) as Record<string, unknown>;
        const rec = JSON.parse(want) as Record<string, unknown>;
        if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(Object.keys(rec).sort()) || JSON.stringify(got, Object.keys(rec)) !== JSON.stringify(rec, Object.keys(rec))) mismatches.push(`${where}: body\n  got      ${body}\n  expected ${want}`);
      } else if (body !== want) mismatches.push(`${where}: body\n  got      ${body.slice(0, 900)}\n  expected ${want.slice(0, 900)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('keeps the registration of 996 files and nothing of a failed 997-file batch', async () => {
    const { rucio, token } = await addendaWorld();
    expect((await call(rucio, token, 'POST', '/replicas', registrationBody(997))).status).toBe(500);
    expect([...rucio.fileReplicas()].filter((r) => r.did.name.startsWith('n997_'))).toEqual([]);
    expect((await call(rucio, token, 'POST', '/replicas', registrationBody(996))).status).toBe(201);
    expect([...rucio.fileReplicas()].filter((r) => r.did.name.startsWith('n996_'))).toHaveLength(996);
  });

  it('without SQLite (database: postgresql): custom keys are stored, plugin JSON answers, 997 files register', async () => {
    const rucio = createRucioEmulator({ database: 'postgresql' });
    const token = rucio.issueToken('root');
    rucio.addScope('test', 'root');
    rucio.addRse('SITE_A', { protocols: [{ scheme: 'file', hostname: 'localhost', port: 0, prefix: '/rucio/SITE_A/' }] });
    expect((await call(rucio, token, 'POST', '/replicas', registrationBody(997))).status).toBe(201);
    expect((await call(rucio, token, 'POST', '/dids/test/n997_0000/meta/foo_custom', { value: 'bar' })).status).toBe(201);
    expect((await call(rucio, token, 'GET', '/dids/test/n997_0000/meta?plugin=JSON')).json()).toEqual({ foo_custom: 'bar' });
  });

  it('a replica set AVAILABLE again is RECOVERED in the bad-replica listing', async () => {
    const { rucio, token } = await addendaWorld();
    expect((await call(rucio, token, 'POST', '/replicas/bad', { reason: 'r', replicas: [{ scope: 'test', name: 'bad1', rse: 'SITE_A' }] })).status).toBe(201);
    expect((await call(rucio, token, 'PUT', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'bad1', state: 'A' }] })).status).toBe(200);
    expect((await call(rucio, token, 'GET', '/replicas/bad/states')).lines()).toMatchObject([{ name: 'bad1', state: 'RECOVERED' }]);
    const again = await call(rucio, token, 'POST', '/replicas/bad', { reason: 'r', replicas: [{ scope: 'test', name: 'bad1', rse: 'SITE_A' }] });
    expect([again.status, again.text]).toEqual([201, '{}\n']);
  });

  it('declaring bad: only root (generic policy); a second declaration is "Already declared" unless forced', async () => {
    const { rucio, token } = await addendaWorld();
    rucio.addAccount('alice');
    const alice = rucio.issueToken('alice');
    const denied = await call(rucio, alice, 'POST', '/replicas/bad', { reason: 'r', replicas: [{ scope: 'test', name: 'bad1', rse: 'SITE_A' }] });
    expect([denied.status, denied.json()]).toEqual([401, { ExceptionClass: 'AccessDenied', ExceptionMessage: 'Account alice can not declare bad replicas in RSE SITE_A. ' }]);
    // Suspicious: anyone may.
    expect((await call(rucio, alice, 'POST', '/replicas/suspicious', { reason: 'r', pfns: ['file://localhost/rucio/SITE_A/test/2d/ce/bad3'] })).text).toBe('{}\n');
    const body = { reason: 'r', replicas: [{ scope: 'test', name: 'bad1', rse: 'SITE_A' }] };
    expect((await call(rucio, token, 'POST', '/replicas/bad', body)).text).toBe('{}\n');
    expect((await call(rucio, token, 'POST', '/replicas/bad', body)).text).toBe('{"SITE_A":["test:bad1 Already declared"]}\n');
    expect((await call(rucio, token, 'POST', '/replicas/bad', { ...body, force: true })).text).toBe('{}\n');
    // By PFN, an unknown one fails the whole call.
    const unknown = await call(rucio, token, 'POST', '/replicas/bad', { reason: 'r', replicas: ['file://elsewhere/x/y'] });
    expect([unknown.status, unknown.json()]).toEqual([404, { ExceptionClass: 'ReplicaNotFound', ExceptionMessage: 'Not all replicas found' }]);
  });
});
