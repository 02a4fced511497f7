/**
 * The ESAP basket client against the raw responses recorded from the real ESAP gateway: parsing of
 * every recorded shape, the error mapping of every recorded failure, and the requests the client
 * sends compared with the GUI's recorded ones.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UnauthenticatedError, formatDid } from '../../src/index.js';
import { EsapBasketConflictError, EsapClient, EsapNoProfileError, EsapSessionExpiredError, rucioItem, type BasketItem, type EsapClientOptions } from '../../src/esap/index.js';

interface WireCall {
  n: number;
  request: { method: string; target: string; headers: [string, string][]; body: string | null };
  response: { status: number; headers: [string, string][]; body: string; bodyReconstructed?: string };
}
const calls = JSON.parse(readFileSync(new URL('../fixtures/esap-wire.json', import.meta.url), 'utf8')) as WireCall[];
const call = (n: number) => calls.find((c) => c.n === n) as WireCall;
const bodyOf = (n: number) => call(n).response.bodyReconstructed ?? call(n).response.body;
/** A detail (unwrapped) body inside ESAP's list wrapper, text-wise (keeps big integers exact). */
const asList = (n: number) => `{"description":"ESAP API Gateway","count":1,"pages":1,"results":[${bodyOf(n)}]}`;

interface Sent {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** A client whose fetch answers with the given recorded responses (call numbers, or [status, body, headers]), in order. */
function replay(options: Partial<EsapClientOptions>, ...answers: (number | [number, string, Record<string, string>?])[]) {
  const sent: Sent[] = [];
  let i = 0;
  const client = new EsapClient({
    baseUrl: 'http://127.0.0.1:8000',
    retry: { limit: 0 },
    ...options,
    fetch: async (input) => {
      const req = input as Request;
      sent.push({ method: req.method, path: new URL(req.url).pathname, headers: req.headers, body: await req.text() });
      const a = answers[i++];
      if (a === undefined) throw new Error('unexpected request');
      const [status, body, headers] = typeof a === 'number' ? [call(a).response.status, bodyOf(a), Object.fromEntries(call(a).response.headers.map(([k, v]) => [k, v.trim()]))] : a;
      return new Response(status === 204 || body === '' ? null : body, { status, headers: { 'Content-Type': 'application/json', ...headers } });
    },
  });
  return { client, sent };
}

const BEARER = { token: 'alice-iam-access-token' };

describe('EsapClient.basket on recorded responses', () => {
  it('#4 reads results[0] of the paginated wrapper and decodes the double-encoded item_data', async () => {
    const { client, sent } = replay(BEARER, 4);
    const basket = await client.basket.get();
    expect(sent[0]).toMatchObject({ method: 'GET', path: '/esap-api/accounts/user-profiles/' });
    expect(sent[0]?.headers.get('Authorization')).toBe('Bearer alice-iam-access-token');
    expect(sent[0]?.headers.get('Accept')).toBe('application/json');
    expect(basket).toMatchObject({ userName: 'alice', fullName: 'Alice Example', email: 'alice@example.org', size: 4, problems: [] });
    expect(basket.items.map((i) => i.kind)).toEqual(['rucio', 'astron_vo', 'vo_reg', 'zooniverse']);
    const [rucio, vo, reg, zoo] = basket.items as [BasketItem, BasketItem, BasketItem, BasketItem];
    expect(rucio.kind === 'rucio' && { did: formatDid(rucio.did), type: rucio.didType, bytes: rucio.bytes }).toEqual({ did: 'ESCAPE_CTA_TEST:gamma_20deg_0deg_run100___cta-prod5-paranal.simtel.zst', type: 'FILE', bytes: 1048576 });
    expect(rucio.raw).toBe(JSON.parse(bodyOf(4)).results[0].shopping_cart[0].item_data);
    expect(vo.kind === 'astron_vo' && vo.accessUrl).toBe('https://vo.astron.nl/getproduct/APERTIF_DR1/190807041_AP_B001/image_mf_02.fits');
    expect(reg.kind === 'vo_reg' && reg.urls).toEqual(['https://vo.astron.nl/tap']);
    expect(zoo).toMatchObject({ kind: 'zooniverse', catalog: 'project', projectId: '12268', category: 'classifications' });
    expect(basket.dids().map(formatDid)).toEqual(['ESCAPE_CTA_TEST:gamma_20deg_0deg_run100___cta-prod5-paranal.simtel.zst']);
    expect(basket.sources()).toEqual([expect.objectContaining({ url: 'https://vo.astron.nl/getproduct/APERTIF_DR1/190807041_AP_B001/image_mf_02.fits', filename: 'image_mf_02.fits', archive: 'astron_vo' })]);
    const groups = basket.byArchive();
    expect([groups.rucio.length, groups.astron_vo.length, groups.vo_reg.length, groups.zooniverse.length, groups.unknown.length, groups.samp.length]).toEqual([1, 1, 1, 1, 0, 0]);
  });

  it('#10 keeps integers beyond 2^53 exact (bigint) and writes the entry back from its stored text', async () => {
    const { client, sent } = replay(BEARER, [200, asList(10)], [200, asList(10)], [200, bodyOf(10)]);
    const basket = await client.basket.get();
    // Rucio's schema allows ASCII names only: the recorded probe's name makes the entry a (writable) problem.
    const [problem] = basket.problems;
    expect(problem).toMatchObject({ index: 0, field: 'record.name', archive: 'rucio', writable: true });
    expect((problem?.data as { record: { bytes: unknown } }).record.bytes).toBe(9007199254740993n);
    expect(problem?.raw).toContain('"bytes": 9007199254740993,');
    expect(problem?.raw).toContain('\\u00c5ngstr\\u00f6m');
    // The recorded answer is for another body: no read-back here (this checks the bytes sent).
    const result = await client.basket.add(rucioItem('user.alice:other.fits'), { basedOn: basket, verify: false });
    expect(sent[2]?.body).toBe(`{"shopping_cart":[${problem?.raw as string},{"archive":"rucio","record":{"scope":"user.alice","name":"other.fits"}}]}`);
    expect(result).toMatchObject({ written: true, verified: false });
  });

  it('#11, #12, #19: items nested in {item_data} and malformed items are reported (which entry, which field), not dropped', async () => {
    for (const n of [11, 12, 19]) {
      const { client } = replay(BEARER, [200, asList(n)]);
      const basket = await client.basket.get();
      expect(basket.items).toEqual([]);
      expect(basket.problems.length).toBe(basket.size);
      expect(basket.problems.map((p) => [p.index, p.field])).toEqual(basket.problems.map((_, i) => [i, 'archive']));
      for (const p of basket.problems) expect(p.writable).toBe(true);
    }
    const { client } = replay(BEARER, [200, asList(11)]);
    expect((await client.basket.get()).problems[0]?.problem).toMatch(/wrapped in \{item_data\}.*GUI cannot read it/);
  });

  it('#2 → #3 → #4: adding the GUI items to an empty basket sends byte for byte the GUI PATCH (bare items, whole list), then confirms it by a read-back', async () => {
    const recorded = JSON.parse(call(3).request.body as string) as { shopping_cart: BasketItem[] };
    const { client, sent } = replay({ ...BEARER, basketEdits: { settleMs: 0 } }, 2, 2, 3, 4);
    const result = await client.basket.add(recorded.shopping_cart);
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /esap-api/accounts/user-profiles/',
      'GET /esap-api/accounts/user-profiles/',
      'PATCH /esap-api/accounts/user-profiles/alice/',
      'GET /esap-api/accounts/user-profiles/',
    ]);
    // The recording's probe wrote `"fov":1.0`; JavaScript numbers have no int/float distinction, so `1`.
    expect(sent[2]?.body).toBe(call(3).request.body?.replace('"fov":1.0', '"fov":1'));
    expect(sent[2]?.headers.get('Content-Type')).toBe('application/json');
    expect(result).toMatchObject({ written: true, merged: false, added: 4, removed: 0, verified: true, reapplied: 0 });
    expect(result.basket.items.map((i) => i.kind)).toEqual(['rucio', 'astron_vo', 'vo_reg', 'zooniverse']);
  });

  it('#4 → #8: an edit writes read items from their stored text and new ones bare: the same list as the recorded PATCH', async () => {
    const { client, sent } = replay(BEARER, 4, 4, 8);
    const basket = await client.basket.get();
    const { client: c2, sent: s2 } = replay({ ...BEARER, basketEdits: { settleMs: 0 } }, 4, 8, 9);
    const astron = basket.items[1] as BasketItem;
    const dataset = rucioItem('ESCAPE_CTA_TEST:prod5_dataset_0001', { did_type: 'DATASET', bytes: null, length: null });
    const result = await c2.basket.replace([basket.items[0] as BasketItem, basket.items[2] as BasketItem, basket.items[3] as BasketItem, dataset], { basedOn: basket });
    expect(astron.kind).toBe('astron_vo');
    expect(sent).toHaveLength(1);
    expect(s2.map((s) => s.method)).toEqual(['GET', 'PATCH', 'GET']); // #9: the read-back shows the edit
    expect(result.verified).toBe(true);
    expect(JSON.parse(s2[1]?.body as string)).toEqual(JSON.parse(call(8).request.body as string));
    expect(s2[1]?.body).toContain(basket.items[0]?.raw);
    expect(result).toMatchObject({ written: true, added: 1, removed: 1 });
  });

  it('#27, #28, #29: an empty results list is a typed "no profile" error naming the case', async () => {
    const cases: [Partial<EsapClientOptions>, number, string][] = [
      [{ basic: { username: 'bob', password: 'bob-pw' } }, 27, 'no-profile-for-identity'],
      [{ token: 'carol-iam-access-token' }, 28, 'no-profile-for-identity'],
      [{}, 29, 'anonymous'],
      [{ credentials: 'include' }, 29, 'no-session-or-no-profile'],
    ];
    for (const [options, n, reason] of cases) {
      const { client } = replay(options, n);
      const error = await client.basket.get().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EsapNoProfileError);
      expect(error).toMatchObject({ reason, code: 'DLAAS_ESAP_NO_PROFILE' });
    }
    const { client } = replay({ token: 'carol-iam-access-token' }, 28);
    expect(String(await client.basket.get().catch((e: Error) => e.message))).toMatch(/userinfo.*user_email/);
  });

  it('#31, #32, #33: only invalid credentials give 401, and the echoed token never reaches the error', async () => {
    const { client } = replay({ token: 'expired-or-garbage' }, 31);
    const error = (await client.basket.get().catch((e: unknown) => e)) as UnauthenticatedError;
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error.status).toBe(401);
    expect(`${error.message} ${JSON.stringify(error)} ${String(error.bodyExcerpt)}`).not.toContain('expired-or-garbage');
    expect(error.message).toContain('Invalid access token');
    const { client: basic } = replay({ basic: { username: 'alice', password: 'nope' } }, 32);
    await expect(basic.basket.get()).rejects.toThrow(/Invalid username\/password/);
  });

  it('#24, #25: 404 on the profile URL when writing is "profile not visible"', async () => {
    const { client } = replay({ basic: { username: 'bob', password: 'bob-pw' } }, 4, 4, 24);
    const error = await client.basket.clear().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EsapNoProfileError);
    expect(error).toMatchObject({ reason: 'profile-not-visible', userName: 'alice' });
  });

  it('#41, #42: an expired browser session is a typed error carrying the refresh URL (XHR header sent)', async () => {
    const { client, sent } = replay({ credentials: 'include' }, 42);
    const error = (await client.basket.get().catch((e: unknown) => e)) as EsapSessionExpiredError;
    expect(error).toBeInstanceOf(EsapSessionExpiredError);
    expect(error.refreshUrl).toMatch(/^http:\/\/127\.0\.0\.1:8001\/authorize\?response_type=code/);
    expect(sent[0]?.headers.get('X-Requested-With')).toBe('XMLHttpRequest');
    expect(sent[0]?.headers.get('Authorization')).toBeNull();
    const { client: c41 } = replay({ credentials: 'include' }, 41);
    await expect(c41.basket.get()).rejects.toBeInstanceOf(EsapSessionExpiredError);
  });

  it('#38, #40: the profile IAM tokens are stripped from what the SDK returns unless asked for', async () => {
    const recorded = JSON.parse(bodyOf(40)).results[0] as { oidc_access_token: string; oidc_id_token: string };
    const { client } = replay(BEARER, 40, 40);
    const basket = await client.basket.get();
    const seen = JSON.stringify({ ...basket, dids: basket.dids() }) + String(basket.tokens);
    expect(seen).not.toContain(recorded.oidc_id_token);
    expect(seen).not.toContain('alice-iam-access-token');
    expect(basket.tokens).toBeUndefined();
    const withTokens = await client.basket.get({ includeTokens: true });
    expect(withTokens.tokens).toEqual({ accessToken: 'alice-iam-access-token', idToken: recorded.oidc_id_token, idTokenExpiration: '2026-11-25T10:32:56Z' });
    // Even when asked for, they only come out through the accessor: never in JSON, spreads or inspection.
    expect(JSON.stringify(withTokens) + JSON.stringify({ ...withTokens })).not.toContain('alice-iam-access-token');
    expect(inspect(withTokens, { depth: 5 })).not.toContain('alice-iam-access-token');
  });
});

/** The real server's answers to two clients that read and then PATCH at the same moment (real-server-addenda.json, #52–#61). */
describe('EsapClient.basket on the recorded lost update and interleaved writes', () => {
  const addenda = JSON.parse(readFileSync(new URL('../fixtures/real-server-addenda.json', import.meta.url), 'utf8')) as WireCall[];
  const rec = (n: number) => addenda.find((c) => c.n === n) as WireCall;
  /** A recorded answer, as [status, body, headers]; `list` wraps a detail body in the paginated list. */
  const answer = (n: number, list = false): [number, string, Record<string, string>] => [rec(n).response.status, list ? `{"description":"ESAP API Gateway","count":1,"pages":1,"results":[${rec(n).response.body}]}` : rec(n).response.body, { 'Content-Type': 'application/json' }];
  type Cart = { item_data: string; user_profile: string }[];
  const cartOf = (n: number) => (JSON.parse(rec(n).response.body) as { shopping_cart: Cart }).shopping_cart;
  /** The profile of `#n` with another cart (the server's answer to a write the recording does not have). */
  const withCart = (n: number, cart: Cart): [number, string] => [200, JSON.stringify({ ...(JSON.parse(rec(n).response.body) as object), shopping_cart: cart })];
  const listed = ([status, body]: [number, string]): [number, string] => [status, `{"description":"ESAP API Gateway","count":1,"pages":1,"results":[${body}]}`];
  const sentCart = (s: Sent | undefined) => (JSON.parse(s?.body ?? '{}') as { shopping_cart: unknown[] }).shopping_cart;
  const itemsOf = (n: number) => (JSON.parse(rec(n).request.body as string) as { shopping_cart: unknown[] }).shopping_cart;
  const [A, B, C1] = itemsOf(54);
  const C2 = itemsOf(55)[2];
  const NOTEBOOK = { ...BEARER, basketEdits: { settleMs: 0 } };
  const GUI = { basic: { username: 'alice', password: 'alice-pw' }, basketEdits: { settleMs: 0 } };

  it('10a: both PATCHes answered 200 (#54, #55), the server kept client 1\'s list (#56): client 1 confirms its add', async () => {
    const { client, sent } = replay(GUI, answer(52), answer(52), answer(54), answer(56, true));
    const result = await client.basket.add(C1 as BasketItem);
    expect(sentCart(sent[2])).toEqual([A, B, C1]);
    expect(result).toMatchObject({ written: true, verified: true, merged: false, reapplied: 0, added: 1 });
  });

  it('10a: client 2, whose PATCH #55 was answered 200 and then lost, sees it in the read-back (#56) and adds its item again, keeping client 1\'s', async () => {
    const repaired = withCart(56, [...cartOf(56), cartOf(55)[2] as Cart[number]]);
    const { client, sent } = replay(NOTEBOOK, answer(53), answer(53), answer(55), answer(56, true), answer(56, true), repaired, listed(repaired));
    const result = await client.basket.add(C2 as BasketItem);
    expect(sent.map((s) => s.method)).toEqual(['GET', 'GET', 'PATCH', 'GET', 'GET', 'PATCH', 'GET']);
    expect(sentCart(sent[2])).toEqual(JSON.parse(rec(55).request.body as string).shopping_cart); // what the recorded client sent
    expect(sentCart(sent[5])).toEqual([A, B, C1, C2]); // re-applied onto the server's list: client 1's item stays
    expect(result).toMatchObject({ written: true, verified: true, merged: true, reapplied: 1, added: 1 });
    expect(result.basket.items).toHaveLength(4);
  });

  it('10a: when the add cannot be confirmed (maxWrites: 1), a typed conflict error says what was lost, never a silent success', async () => {
    const { client } = replay({ ...NOTEBOOK, basketEdits: { settleMs: 0, maxWrites: 1 } }, answer(53), answer(53), answer(55), answer(56, true));
    const error = (await client.basket.add(C2 as BasketItem).catch((e: unknown) => e)) as EsapBasketConflictError;
    expect(error).toBeInstanceOf(EsapBasketConflictError);
    expect(error).toMatchObject({ code: 'DLAAS_ESAP_BASKET_CONFLICT', writes: 1, written: true });
    expect(error.mismatch?.missing.map((i) => i.data)).toEqual([C2]);
    expect(error.actual.size).toBe(3);
    expect(error.expected.size).toBe(3); // the server's answer #55: [A, B, C2], both 200 and lost
    expect(error.message).toMatch(/could not be confirmed after 1 write \(the read-back shows 1 added entry missing, 0 removed entries back and 0 entries duplicated/);
  });

  it('10b: interleaved PATCHes left [A, A, B, B, C2, C1] (#61): client 1 removes the extra copies, keeps both items', async () => {
    const cart = cartOf(61);
    const repaired = withCart(61, [cart[0], cart[2], cart[4], cart[5]] as Cart);
    const { client, sent } = replay(NOTEBOOK, answer(57), answer(57), answer(59), answer(61, true), answer(61, true), repaired, listed(repaired));
    const result = await client.basket.add(C1 as BasketItem);
    expect(cart.map((i) => i.item_data)).toHaveLength(6);
    expect(sentCart(sent[5])).toEqual([A, B, C2, C1]); // first copies, in the server's order; C2 is the other client's and stays
    expect(result).toMatchObject({ written: true, verified: true, merged: true, reapplied: 1 });
  });

  it('10b: client 2 reads again after its read-back and finds the basket already repaired: nothing more to write', async () => {
    const cart = cartOf(61);
    const repaired = withCart(61, [cart[0], cart[2], cart[4], cart[5]] as Cart);
    const { client, sent } = replay(NOTEBOOK, answer(58), answer(58), answer(60), answer(61, true), listed(repaired));
    const result = await client.basket.add(C2 as BasketItem);
    expect(sent.map((s) => s.method)).toEqual(['GET', 'GET', 'PATCH', 'GET', 'GET']);
    expect(result).toMatchObject({ written: true, verified: true, merged: true, reapplied: 0 });
    expect(result.basket.items.map((i) => i.data)).toEqual([A, B, C2, C1]);
  });
});
