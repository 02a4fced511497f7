/**
 * The judge: rules, locks and transfers, on demand and automatic.
 */
import { describe, expect, it, vi } from 'vitest';
import { call, smallWorld } from './helpers.js';
import type { RucioEmulator } from '../../src/testing.js';

const FILES = [
  { name: 'f1', content: 'first file\n' },
  { name: 'f2', content: new Uint8Array([0, 1, 2, 3, 255]) },
];

async function rule(rucio: RucioEmulator, token: string, body: Record<string, unknown>): Promise<string> {
  const r = await call(rucio, token, 'POST', '/rules/', { account: null, copies: 1, dids: [{ scope: 'test', name: 'ds' }], ...body });
  expect(r.status, r.text).toBe(201);
  expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
  return (r.json() as string[])[0] as string;
}

async function getRule(rucio: RucioEmulator, token: string, id: string): Promise<Record<string, unknown>> {
  const r = await call(rucio, token, 'GET', `/rules/${id}`);
  expect(r.status).toBe(200);
  return r.json() as Record<string, unknown>;
}

describe('seedDataset', () => {
  it('computes bytes, adler32 (8 lowercase hex, zero padded) and md5, and stores the bytes', async () => {
    const { rucio, root } = smallWorld();
    const seeded = await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: [{ name: 'a', content: 'a' }, { name: 'empty', content: '' }] });
    // zlib.adler32(b'a') = 0x00620062, adler32(b'') = 1; md5('a') = 0cc175b9...
    expect(seeded).toEqual([
      { scope: 'test', name: 'a', bytes: 1, adler32: '00620062', md5: '0cc175b9c0f1b6a831c399e269772661' },
      { scope: 'test', name: 'empty', bytes: 0, adler32: '00000001', md5: 'd41d8cd98f00b204e9800998ecf8427e' },
    ]);
    expect(new TextDecoder().decode(rucio.bytes('test:a', 'SITE_A'))).toBe('a');
    expect(rucio.bytes({ scope: 'test', name: 'a' }, 'SITE_B')).toBeUndefined();
    const content = await call(rucio, root, 'GET', '/dids/test/ds/dids');
    expect(content.lines()).toEqual([
      { scope: 'test', name: 'a', type: 'FILE', bytes: 1, adler32: '00620062', md5: '0cc175b9c0f1b6a831c399e269772661' },
      { scope: 'test', name: 'empty', type: 'FILE', bytes: 0, adler32: '00000001', md5: 'd41d8cd98f00b204e9800998ecf8427e' },
    ]);
    const list = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'ds' }] });
    expect((list.lines() as { states: unknown }[]).map((f) => f.states)).toEqual([{ SITE_A: 'AVAILABLE' }, { SITE_A: 'AVAILABLE' }]);
  });

  it('closes the dataset on request, with length and bytes', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rses: ['SITE_A', 'SITE_B'], files: FILES, open: false });
    expect((await call(rucio, root, 'GET', '/dids/test/ds')).json()).toMatchObject({ open: false, length: 2, bytes: 16 });
  });
});

describe('rules', () => {
  it('is OK at once when the RSE already holds every file (as calls 56/57)', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_A' });
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'OK', locks_ok_cnt: 2, locks_replicating_cnt: 0, account: 'root', activity: 'User Subscriptions', grouping: 'DATASET' });
    expect(rucio.pendingTransfers).toBe(0);
  });

  it('REPLICATING with COPYING replicas, then completeTransfers copies the bytes and makes it OK', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_B' });
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'REPLICATING', locks_ok_cnt: 0, locks_replicating_cnt: 2 });
    expect((await call(rucio, root, 'GET', `/rules/${id}/locks`)).lines()).toMatchObject([
      { scope: 'test', name: 'f1', rse: 'SITE_B', state: 'REPLICATING', rule_id: id },
      { scope: 'test', name: 'f2', rse: 'SITE_B', state: 'REPLICATING', rule_id: id },
    ]);
    const all = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'f1' }], all_states: true });
    expect((all.lines()[0] as { states: unknown }).states).toEqual({ SITE_A: 'AVAILABLE', SITE_B: 'COPYING' });
    expect(rucio.bytes('test:f1', 'SITE_B')).toBeUndefined();

    expect(rucio.pendingTransfers).toBe(2);
    expect(rucio.completeTransfers()).toBe(2);
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'OK', locks_ok_cnt: 2, locks_replicating_cnt: 0, error: null });
    expect(rucio.bytes('test:f2', 'SITE_B')).toEqual(FILES[1]?.content);
    expect(new TextDecoder().decode(rucio.bytes('test:f1', 'SITE_B'))).toBe('first file\n');
    const listed = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'ds' }] });
    expect((listed.lines() as { rses: object }[]).map((f) => Object.keys(f.rses).sort())).toEqual([['SITE_A', 'SITE_B'], ['SITE_A', 'SITE_B']]);
    // As on the real server, the rule-id history URL is taken by the DID-history route: 400 ValueError.
    const history = await call(rucio, root, 'GET', `/rules/${id}/history`);
    expect([history.status, history.headers.get('ExceptionClass')]).toEqual([400, 'ValueError']);
    const datasets = (await call(rucio, root, 'GET', '/replicas/test/ds/datasets')).lines();
    expect(datasets).toMatchObject([{ scope: 'test', name: 'ds', rse: 'SITE_B', bytes: 16, length: 2, available_bytes: 16, available_length: 2, state: 'AVAILABLE' }]);
  });

  it('failTransfers makes the locks and the rule STUCK with an error', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_B' });
    expect(rucio.failTransfers({ error: 'TRANSFER_FAILED: checksum mismatch' })).toBe(2);
    const r = await getRule(rucio, root, id);
    expect(r).toMatchObject({ state: 'STUCK', locks_stuck_cnt: 2, locks_replicating_cnt: 0, error: 'TRANSFER_FAILED: checksum mismatch' });
    expect(r.stuck_at).toMatch(/ UTC$/);
    expect(((await call(rucio, root, 'GET', `/rules/${id}/locks`)).lines() as { state: string }[]).map((l) => l.state)).toEqual(['STUCK', 'STUCK']);
    // Marking the replicas AVAILABLE repairs the rule.
    const put = await call(rucio, root, 'PUT', '/replicas', { rse: 'SITE_B', files: FILES.map((f) => ({ scope: 'test', name: f.name, state: 'A' })) });
    expect(put.status).toBe(200);
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'OK', locks_ok_cnt: 2, error: null });
  });

  it('completes transfers automatically after transferDelayMs', async () => {
    const { rucio, root } = smallWorld({ transferDelayMs: 20 });
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_B' });
    expect((await getRule(rucio, root, id)).state).toBe('REPLICATING');
    await vi.waitFor(async () => expect((await getRule(rucio, root, id)).state).toBe('OK'), { timeout: 60_000, interval: 10 });
    expect(new TextDecoder().decode(rucio.bytes('test:f1', 'SITE_B'))).toBe('first file\n');
    await rucio.close();
  });

  it('an upload (replica C, rule, PUT state A) drives the rule without a transfer', async () => {
    const { rucio, root } = smallWorld();
    const post = await call(rucio, root, 'POST', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'up', bytes: 3, adler32: '024d0127', state: 'C' }] });
    expect(post.status).toBe(201);
    const id = await rule(rucio, root, { dids: [{ scope: 'test', name: 'up' }], rse_expression: 'SITE_A' });
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'REPLICATING', did_type: 'FILE', locks_replicating_cnt: 1 });
    expect(rucio.pendingTransfers).toBe(0);
    rucio.putBytes('test:up', 'SITE_A', new TextEncoder().encode('abc'));
    expect((await call(rucio, root, 'PUT', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'up', state: 'A' }] })).status).toBe(200);
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'OK', locks_ok_cnt: 1 });
  });

  it('a file with no source anywhere gets STUCK when transfers run', async () => {
    const { rucio, root } = smallWorld();
    await call(rucio, root, 'POST', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'lost', bytes: 1, state: 'U' }] });
    const id = await rule(rucio, root, { dids: [{ scope: 'test', name: 'lost' }], rse_expression: 'SITE_B' });
    expect(rucio.completeTransfers()).toBe(0);
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'STUCK', error: 'RequestErrMsg.NO_SOURCES:NO_SOURCES' });
  });

  it('places copies on RSEs already holding the data first, and refuses more copies than RSEs', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_B', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_A|SITE_B' });
    expect(await getRule(rucio, root, id)).toMatchObject({ state: 'OK', locks_ok_cnt: 2 });
    const two = await rule(rucio, root, { rse_expression: '*', copies: 2 });
    expect(await getRule(rucio, root, two)).toMatchObject({ state: 'REPLICATING', locks_ok_cnt: 2, locks_replicating_cnt: 2 });
    const three = await call(rucio, root, 'POST', '/rules/', { dids: [{ scope: 'test', name: 'ds' }], account: null, copies: 3, rse_expression: '*' });
    expect(three.status).toBe(409);
    expect(three.json()).toEqual({ ExceptionClass: 'InsufficientTargetRSEs', ExceptionMessage: 'Target RSE set not sufficient for number of copies. (3 copies requested, RSE set size 2)' });
  });

  it('locks files attached after the rule (judge-evaluator) and follows detaches', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_B' });
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: [{ name: 'f3', content: 'late' }] });
    expect(await getRule(rucio, root, id)).toMatchObject({ locks_replicating_cnt: 3 });
    const detach = await call(rucio, root, 'DELETE', '/dids/test/ds/dids', { dids: [{ scope: 'test', name: 'f3' }] });
    expect(detach.status).toBe(200);
    expect(await getRule(rucio, root, id)).toMatchObject({ locks_replicating_cnt: 2 });
    expect(rucio.completeTransfers()).toBe(2);
  });

  it('DELETE is a soft delete (expires in an hour, as call 82); the cleaner removes it afterwards', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const { rucio, root } = smallWorld({ now: () => now, tokenLifetimeSeconds: 86400 });
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const id = await rule(rucio, root, { rse_expression: 'SITE_B' });
    const empty = await call(rucio, root, 'DELETE', `/rules/${id}`);
    expect(empty.status).toBe(400);
    expect(empty.json()).toEqual({ ExceptionClass: 'ValueError', ExceptionMessage: 'cannot decode json parameter dictionary' });
    expect((await call(rucio, root, 'DELETE', `/rules/${id}`, { purge_replicas: false })).status).toBe(200);
    expect(await getRule(rucio, root, id)).toMatchObject({ expires_at: 'Tue, 01 Jan 2030 01:00:00 UTC', state: 'REPLICATING' });
    now = new Date('2030-01-01T01:00:01Z');
    const gone = await call(rucio, root, 'GET', `/rules/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.json()).toEqual({ ExceptionClass: 'RuleNotFound', ExceptionMessage: `No rule with the id ${id} found` });
    const full = (await call(rucio, root, 'GET', '/rules/test/ds/history')).lines() as Record<string, unknown>[];
    expect(full).toMatchObject([{ rule_id: id, state: 'REPLICATING', created_at: 'Tue, 01 Jan 2030 00:00:00 UTC', updated_at: 'Tue, 01 Jan 2030 00:00:00 UTC' }, { rule_id: id, updated_at: 'Tue, 01 Jan 2030 01:00:01 UTC' }]);
    expect(Object.keys(full[0] as object)).toEqual(['rule_id', 'created_at', 'updated_at', 'rse_expression', 'state', 'account', 'locks_ok_cnt', 'locks_stuck_cnt', 'locks_replicating_cnt']);
    const malformed = await call(rucio, root, 'GET', '/rules/not-a-uuid');
    expect([malformed.status, malformed.headers.get('ExceptionClass')]).toEqual([500, 'RucioException']);
    // The COPYING replicas nobody needs any more went with it.
    const all = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'f1' }], all_states: true });
    expect((all.lines()[0] as { states: unknown }).states).toEqual({ SITE_A: 'AVAILABLE' });
    expect(rucio.pendingTransfers).toBe(0);
  });

  it('checks the body like the server: unknown keys, schema, missing DID, permissions', async () => {
    const { rucio, root, alice } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const base = { dids: [{ scope: 'test', name: 'ds' }], account: null, copies: 1, rse_expression: 'SITE_A' };
    const unknown = await call(rucio, root, 'POST', '/rules/', { ...base, comments: 'typo' });
    expect([unknown.status, unknown.headers.get('ExceptionClass')]).toEqual([409, 'InvalidObject']);
    expect(unknown.json()).toMatchObject({ ExceptionMessage: "Problem validating rule: Additional properties are not allowed ('comments' was unexpected)" });
    const grouping = await call(rucio, root, 'POST', '/rules/', { ...base, grouping: 'FILES' });
    expect(grouping.json()).toEqual({ ExceptionClass: 'InvalidObject', ExceptionMessage: "Problem validating rule: 'FILES' is not one of ['DATASET', 'NONE', 'ALL', None]" });
    const missingKey = await call(rucio, root, 'POST', '/rules/', { dids: base.dids, copies: 1, rse_expression: 'SITE_A' });
    expect([missingKey.status, missingKey.text]).toEqual([400, '{"ExceptionClass": "KeyError", "ExceptionMessage": "\'account\' not defined"}']);
    const missing = await call(rucio, root, 'POST', '/rules/', { ...base, dids: [{ scope: 'test', name: 'nope' }] });
    expect([missing.status, missing.json()]).toEqual([404, { ExceptionClass: 'DataIdentifierNotFound', ExceptionMessage: 'Data identifier test:nope is not valid.' }]);
    const badBool = await call(rucio, root, 'POST', '/rules/', { ...base, locked: 'maybe' });
    expect([badBool.status, badBool.headers.get('ExceptionClass')]).toEqual([400, 'TypeError']);
    // Rules for another account need root/admin; the view does not map AccessDenied (500).
    const foreign = await call(rucio, alice, 'POST', '/rules/', { ...base, account: 'root' });
    expect([foreign.status, foreign.json()]).toEqual([500, { ExceptionClass: 'AccessDenied', ExceptionMessage: 'Account alice can not add replication rule. ' }]);
    const own = await call(rucio, alice, 'POST', '/rules/', { ...base, account: 'alice' });
    expect(own.status).toBe(201);
    const put = await call(rucio, alice, 'PUT', `/rules/${(own.json() as string[])[0]}`, { options: { comment: 'x' } });
    expect([put.status, put.headers.get('ExceptionClass')]).toEqual([401, 'AccessDenied']);
    const opt = await call(rucio, root, 'PUT', `/rules/${(own.json() as string[])[0]}`, { options: { nope: 1 } });
    expect([opt.status, opt.json()]).toEqual([409, { ExceptionClass: 'InputValidationError', ExceptionMessage: 'nope is not a valid option to set.' }]);
    const ok = await call(rucio, root, 'PUT', `/rules/${(own.json() as string[])[0]}`, { options: { comment: 'kept', lifetime: 60, locked: true } });
    expect(ok.status).toBe(200);
    expect(await getRule(rucio, root, (own.json() as string[])[0] as string)).toMatchObject({ comments: 'kept', locked: true });
    const locked = await call(rucio, root, 'DELETE', `/rules/${(own.json() as string[])[0]}`, {});
    expect([locked.status, locked.headers.get('ExceptionClass')]).toEqual([401, 'UnsupportedOperation']);
  });

  it('lists rules with column filters and letter codes', async () => {
    const { rucio, root } = smallWorld();
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: FILES });
    const ok = await rule(rucio, root, { rse_expression: 'SITE_A' });
    const rep = await rule(rucio, root, { rse_expression: 'SITE_B' });
    const ids = async (q: string) => ((await call(rucio, root, 'GET', `/rules/?${q}`)).lines() as { id: string }[]).map((r) => r.id);
    expect(await ids('state=O')).toEqual([ok]);
    expect(await ids('state=R&scope=test')).toEqual([rep]);
    expect(await ids('scope=te*&did_type=D')).toEqual([ok, rep]);
    expect(await ids('account=alice')).toEqual([]);
    expect(await ids('rse_expression=SITE_B')).toEqual([rep]);
    const bad = await call(rucio, root, 'GET', '/rules/?state=X');
    expect([bad.status, bad.text, bad.headers.get('content-type')]).toEqual([500, "'X' is not a valid RuleState", 'text/html; charset=utf-8']);
    const listed = (await call(rucio, root, 'GET', '/dids/test/ds/rules')).lines() as Record<string, unknown>[];
    expect(listed.map((r) => r.bytes)).toEqual([null, null]);
    expect(((await call(rucio, root, 'GET', '/dids/test/f1/associated_rules')).lines() as { id: string }[]).map((r) => r.id)).toEqual([ok, rep]);
    expect(((await call(rucio, root, 'GET', '/accounts/root/rules')).lines() as unknown[]).length).toBe(2);
  });
});
