/**
 * The Rucio client against the real-server addenda (test/fixtures/real-server-addenda.json, calls
 * 1–40): the requests it sends are the ones recorded (as the Python client sends them), and the
 * recorded answers are parsed, or mapped to errors, as they should be. Rule history by id (gone:
 * the server cannot answer it), bad and suspicious replicas, metadata keys that are not columns,
 * `events` of a dataset, the 997-file registration limit (split and retried), missing DIDs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BadRequestError, MissingDidsError, RucioClient, Rules, ServerError, parseDid, type Replica } from '../../src/index.js';

interface WireCall {
  n: number;
  request: { method: string; target: string; body: string | null };
  response: { status: number; headers: [string, string][]; body: string };
}
const load = (file: string) => new Map((JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8')) as WireCall[]).map((c) => [c.n, c]));
const ADDENDA = load('real-server-addenda.json');
const WIRE = load('rucio-wire.json');
const addenda = (n: number) => ADDENDA.get(n) as WireCall;

interface Sent {
  method: string;
  path: string;
  target: string;
  body: unknown;
}

/** A client whose fetch answers with recorded responses, in order (`[file, n]` or an addenda number). */
function replay(...answers: (number | WireCall)[]) {
  const sent: Sent[] = [];
  let i = 0;
  const client = new RucioClient({
    baseUrl: 'http://127.0.0.1:36465',
    account: 'root',
    token: 'root-ddmlab-unknown-1bbc4bfdb1314e03ba8cebc6bd7ddbfd',
    retry: { limit: 0 },
    fetch: async (input) => {
      const req = input as Request;
      const url = new URL(req.url);
      const text = await req.text();
      sent.push({ method: req.method, path: url.pathname, target: `${url.pathname}${url.search}`, body: text ? JSON.parse(text) : undefined });
      const a = answers[i++];
      const c = typeof a === 'number' ? addenda(a) : (a as WireCall);
      return new Response(c.response.body, { status: c.response.status, headers: c.response.headers.map(([k, v]) => [k, v.trim()]) });
    },
  });
  return { client, sent };
}
const recordedBody = (n: number) => JSON.parse(addenda(n).request.body as string) as unknown;

describe('rule history (addenda 1, 2)', () => {
  it('rules.history(id) is gone: the real server routes GET /rules/{id}/history to the DID form and answers 400', async () => {
    expect('history' in Rules.prototype).toBe(false);
    const { client } = replay(1);
    const err = await client.transport.json({ method: 'GET', path: `rules/458527a751ca42759b9c6487e078d578/history` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).exceptionClass).toBe('ValueError');
  });

  it('a rule\'s rows come from its DID\'s history (rules.didHistory), filtered by rule_id', async () => {
    const { client, sent } = replay(2);
    const rows = (await client.rules.didHistory(parseDid('test:dataset1')).toArray()).filter((h) => h.rule_id === '458527a751ca42759b9c6487e078d578');
    expect(sent[0]!.path).toBe(addenda(2).request.target);
    expect(rows).toEqual([{ rule_id: '458527a751ca42759b9c6487e078d578', created_at: 'Wed, 02 Dec 2026 16:57:46 UTC', updated_at: 'Wed, 02 Dec 2026 16:57:46 UTC', rse_expression: 'SITE_A', state: 'OK', account: 'root', locks_ok_cnt: 3, locks_stuck_cnt: 0, locks_replicating_cnt: 0 }]);
  });
});

describe('bad and suspicious replicas (addenda 3–20)', () => {
  it('#3 #4 #5 declareBad sends what the Python client sends (by DID and RSE, or by PFN) and returns what was not declared', async () => {
    const { client, sent } = replay(3, 4, 5);
    expect(await client.replicas.declareBad([{ scope: 'test', name: 'bad1', rse: 'SITE_A' }], { reason: 'addenda: checksum mismatch' })).toEqual({});
    expect(sent[0]).toMatchObject({ method: 'POST', path: '/replicas/bad', body: recordedBody(3) });
    expect(await client.replicas.declareBad(['file://localhost/rucio/SITE_A/test/92/6e/bad2'], { reason: 'addenda: lost file' })).toEqual({});
    expect(sent[1]!.body).toEqual(recordedBody(4));
    expect(await client.replicas.declareBad([parseDid('test:nothere')].map((d) => ({ ...d, rse: 'SITE_A' })), { reason: 'addenda: not there' })).toEqual({ SITE_A: ["(test, 'nothere') Unknown replica"] });
    expect(sent[2]!.body).toEqual(recordedBody(5));
  });

  it('#6 #8 listBad sends the state as its letter (the name is a 500, #7) and parses the NDJSON', async () => {
    const { client, sent } = replay(6, 8, 7);
    const all = await client.replicas.listBad().toArray();
    expect(all.map((b) => [b.name, b.rse, b.state])).toEqual([
      ['bad1', 'SITE_A', 'BAD'],
      ['bad2', 'SITE_A', 'BAD'],
    ]);
    expect(sent[0]!.target).toBe('/replicas/bad/states');
    expect(await client.replicas.listBad({ state: 'BAD', rse: 'SITE_A' }).toArray()).toHaveLength(2);
    expect(sent[1]!.target).toBe(addenda(8).request.target);
    // What a name would get: a 500 with a text/html body.
    const err = await client.transport.json({ method: 'GET', path: 'replicas/bad/states', query: { state: 'BAD', rse: 'SITE_A' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).message).toContain("'BAD' is not a valid BadFilesStatus");
  });

  it('#9 badSummary: counts per state, reason; created_at null on SQLite', async () => {
    const { client } = replay(9);
    expect(await client.replicas.badSummary().toArray()).toEqual([
      { BAD: 1, rse_id: '9cd775361458438bbbdc01c8305eeb92', rse: 'SITE_A', created_at: null, reason: 'addenda: checksum mismatch' },
      { BAD: 1, rse_id: '9cd775361458438bbbdc01c8305eeb92', rse: 'SITE_A', created_at: null, reason: 'addenda: lost file' },
    ]);
  });

  it('#10 #11 a BAD replica: the default listing gives the file without it, all_states shows it BAD', async () => {
    const { client, sent } = replay(10, 11);
    const [plain] = await client.replicas.list([parseDid('test:bad1')]).toArray();
    expect(plain).toMatchObject({ name: 'bad1', pfns: {}, rses: {}, states: {} });
    expect(sent[0]!.body).toEqual(recordedBody(10));
    const [all] = await client.replicas.list([parseDid('test:bad1')], { all_states: true }).toArray();
    expect((all as Replica).states).toEqual({ SITE_A: 'BAD' });
    expect(sent[1]!.body).toEqual(recordedBody(11));
  });

  it('#13 #14 #15 declareSuspicious and listSuspicious (one JSON array)', async () => {
    const { client, sent } = replay(13, 14, 15);
    expect(await client.replicas.declareSuspicious(['file://localhost/rucio/SITE_A/test/2d/ce/bad3'], { reason: 'addenda: suspicious read error' })).toEqual({});
    expect(sent[0]).toMatchObject({ path: '/replicas/suspicious', body: recordedBody(13) });
    expect(await client.replicas.listSuspicious().toArray()).toEqual([{ scope: 'test', name: 'bad3', rse: 'SITE_A', rse_id: '9cd775361458438bbbdc01c8305eeb92', cnt: 1, created_at: 'Wed, 02 Dec 2026 16:57:47 UTC' }]);
    expect(await client.replicas.listSuspicious({ rse_expression: 'SITE_A', nattempts: 0 }).toArray()).toHaveLength(1);
    expect(sent[2]!.target).toBe(addenda(15).request.target);
  });

  it('#16 #17 declareBadDids and addBadPfns send the recorded bodies', async () => {
    const { client, sent } = replay(16, 17);
    expect(await client.replicas.declareBadDids('SITE_A', [parseDid('test:bad4')], { reason: 'addenda: bad by did' })).toEqual([]);
    expect(sent[0]).toMatchObject({ path: '/replicas/bad/dids', body: recordedBody(16) });
    await client.replicas.addBadPfns(['file://localhost/rucio/SITE_A/test/52/46/bad5'], { reason: 'addenda: bad pfn' });
    expect(sent[1]).toMatchObject({ path: '/replicas/bad/pfns', body: recordedBody(17) });
  });

  it('#20 after the declarations: BAD files listed without replicas, suspicious and bad/pfns ones still AVAILABLE', async () => {
    const { client } = replay(20);
    const rows = await client.replicas.list(['bad1', 'bad2', 'bad3', 'bad4', 'bad5'].map((n) => parseDid(`test:${n}`))).toArray();
    expect(rows.map((r) => [r.name, Object.keys(r.rses)])).toEqual([
      ['bad1', []],
      ['bad2', []],
      ['bad3', ['SITE_A']],
      ['bad4', []],
      ['bad5', ['SITE_A']],
    ]);
  });

  it('checks its arguments before sending', async () => {
    const { client, sent } = replay();
    await expect(client.replicas.declareBad([{ scope: 'test', name: 'f', rse: 'SITE_A' }], { reason: '' })).rejects.toThrow(/reason/);
    await expect(client.replicas.declareBad(['not a pfn'], { reason: 'r' })).rejects.toThrow(/PFN/);
    await expect(client.replicas.declareBad([{ scope: 'test', name: 'f', rse: 'SITE_A' }, 'file://h/p'] as never, { reason: 'r' })).rejects.toThrow(/not both/);
    await expect(client.replicas.addBadPfns(['file://h/p'], { reason: 'r', state: 'TEMPORARY_UNAVAILABLE' })).rejects.toThrow(/expires_at/);
    expect(() => client.replicas.listBad({ state: 'GONE' as never })).toThrow(/unknown bad replica state/);
    expect(sent).toEqual([]);
  });
});

describe('metadata (addenda 21–32)', () => {
  it('#21 #22 #23 a key that is not a DID column is a BadRequestError (InvalidMetadata), alone or with a column', async () => {
    const { client, sent } = replay(22, 23);
    for (const meta of [{ foo_custom2: 'baz' }, { run_number: 42, foo_custom3: 'qux' }]) {
      const err = await client.dids.setMeta(parseDid('test:file1'), meta).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).exceptionClass).toBe('InvalidMetadata');
    }
    // The recorded bodies also carry the server's default `recursive: false`.
    expect(sent.map((s) => (s.body as { meta: unknown }).meta)).toEqual([22, 23].map((n) => (recordedBody(n) as { meta: unknown }).meta));
  });

  it('#29 #31 setting a file\'s events updates its dataset\'s events (seen in /meta)', async () => {
    const { client } = replay(29, 31);
    await client.dids.setMeta(parseDid('test:file1'), { events: 100 });
    expect(await client.dids.getMeta(parseDid('test:dataset1'))).toMatchObject({ did_type: 'DATASET', events: 150 });
  });
});

describe('registration batches (addenda 33–37)', () => {
  const files = (n: number) => Array.from({ length: n }, (_, i) => ({ scope: 'test', name: `n${n}_${String(i).padStart(4, '0')}`, bytes: 1000 + i, adler32: (i + 1).toString(16).padStart(8, '0') }));

  it('#33 sends the recorded 996-file body', async () => {
    const { client, sent } = replay(33);
    await client.replicas.add('SITE_A', files(996), { ignore_availability: true, batchSize: 996 });
    expect(sent[0]!.body).toMatchObject({ rse: 'SITE_A', ignore_availability: true });
    expect((sent[0]!.body as { files: unknown[] }).files).toEqual(files(996));
  });

  it('#34 a 997-file batch failed with DatabaseException is split in two and each half sent (#33 answers)', async () => {
    const { client, sent } = replay(34, 33, 33);
    await client.replicas.add('SITE_A', files(997), { ignore_availability: true, batchSize: 1000 });
    expect(sent.map((s) => (s.body as { files: unknown[] }).files.length)).toEqual([997, 499, 498]);
    expect([...sent].slice(1).flatMap((s) => (s.body as { files: unknown[] }).files)).toEqual(files(997));
  });

  it('the default batch size stays under the SQLite limit; other errors are not retried', async () => {
    const a = replay(33, 33);
    await a.client.replicas.add('SITE_A', files(998));
    expect(a.sent.map((s) => (s.body as { files: unknown[] }).files.length)).toEqual([500, 498]);
    // A 500 that says nothing about size (here, WIRE #35: UnsupportedOperation) is thrown as it is.
    const b = replay(WIRE.get(35) as WireCall);
    await expect(b.client.replicas.add('SITE_A', files(10))).rejects.toMatchObject({ exceptionClass: 'UnsupportedOperation' });
    expect(b.sent).toHaveLength(1);
    await expect(a.client.replicas.add('SITE_A', files(1), { batchSize: 1001 })).rejects.toThrow(/batchSize/);
  });
});

describe('replica listing of a DID that does not exist (addenda 38–40)', () => {
  it('#39 is empty, without error, by default', async () => {
    const { client, sent } = replay(39);
    expect(await client.replicas.list([parseDid('test:nothere')]).toArray()).toEqual([]);
    expect(sent[0]!.body).toEqual(recordedBody(39));
  });

  it("#39 + a DID lookup (404): missing: 'error' names the DIDs that do not exist", async () => {
    const { client, sent } = replay(39, WIRE.get(40) as WireCall);
    const err = await client.replicas.list([parseDid('test:nothere')], { missing: 'error' }).toArray().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDidsError);
    expect((err as MissingDidsError).dids).toEqual([{ scope: 'test', name: 'nothere' }]);
    expect((err as MissingDidsError).code).toBe('DLAAS_NOT_FOUND');
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /replicas/list', 'GET /dids/test/nothere']);
  });

  it("missing: 'error' asks only about DIDs no line named (#10 names bad1)", async () => {
    const { client, sent } = replay(10);
    expect(await client.replicas.list([parseDid('test:bad1')], { missing: 'error' }).toArray()).toHaveLength(1);
    expect(sent).toHaveLength(1);
  });
});
